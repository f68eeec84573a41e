"""Settings, all from the environment (12-factor).

Without DATABASE_URL / REDIS_URL in the environment, the values written by
`config.local_servers` (the project's own PostgreSQL and Redis, started by `./dev`) are used.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = BASE_DIR / ".local"
LOCAL_SERVERS = dotenv_values(LOCAL_DIR / "servers.env")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "insecure-development-key" if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for local development).")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "catalog",
    "search",
]

MIDDLEWARE = [
    "config.health.HealthCheckMiddleware",  # /healthz: before the host check and the HTTPS redirect
    "config.middleware.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: always PostgreSQL with pgvector -------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", LOCAL_SERVERS.get("DATABASE_URL") or "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "Set DATABASE_URL to a PostgreSQL server with pgvector, or start the project's own "
        "servers with `./dev services` (./dev run and ./dev test do it for you)."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Web processes (config/gunicorn.py sets DB_POOL_MAX_SIZE) share a bounded pool of connections
# between their threads: Django's psycopg pool, at most DB_POOL_MAX_SIZE connections per process.
# Elsewhere (Celery workers, management commands) a process opens a connection when it needs one
# and closes it after each task or request, unless DB_CONN_MAX_AGE asks to keep it. Never set
# DB_CONN_MAX_AGE for Django's development server: it starts a thread (and so a connection) per request.
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 0)
if DB_POOL_MAX_SIZE:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env_int("DB_POOL_MIN_SIZE", 2), DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env_int("DB_POOL_TIMEOUT", 10),  # seconds a request waits for a free connection
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Queue: Celery on Redis ---------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", LOCAL_SERVERS.get("REDIS_URL") or "")
if not REDIS_URL:
    raise ImproperlyConfigured("Set REDIS_URL, or start the project's own servers with `./dev services`.")


def redis_db(url: str, db: int) -> str:
    """The same Redis server, another database number."""
    return f"{url.rsplit('/', 1)[0]}/{db}"


CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-image leaves the task for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ... and the batch is split when it comes back (search.indexing)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # embedding is slow; don't hoard tasks
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}  # longer than any task may run
CELERY_TASK_ALWAYS_EAGER = False
# A batch over the soft limit is split (one item alone fails); the hard limit kills a stuck process.
# The first batch on a new machine also loads the models and may import the word vectors.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("TASK_TIME_LIMIT", CELERY_TASK_SOFT_TIME_LIMIT + 60)
# A claim older than this belongs to a run whose worker died: the reconciler queues the item again.
PROCESSING_STALE_AFTER = env_int("PROCESSING_STALE_AFTER", CELERY_TASK_TIME_LIMIT + 60)
# Runs of one item alone that may kill their worker before the item is marked failed.
PROCESSING_MAX_INTERRUPTIONS = env_int("PROCESSING_MAX_INTERRUPTIONS", 2)
# The reconciler (search.tasks.reconcile) runs in Celery beat, embedded in the worker (`worker -B`).
RECONCILE_INTERVAL = env_int("RECONCILE_INTERVAL", 60)
RECONCILE_PENDING_AFTER = env_int("RECONCILE_PENDING_AFTER", 300)  # seconds pending before re-queueing
CELERY_BEAT_SCHEDULE = {"reconcile": {"task": "search.tasks.reconcile", "schedule": RECONCILE_INTERVAL}}
CELERY_BEAT_SCHEDULER = "celery.beat:Scheduler"  # in memory: no schedule file to keep

# --- Cache: Redis, shared by every web process (throttles) and worker (operations page) ------
CACHE_URL = env_str("CACHE_URL", redis_db(REDIS_URL, 1))
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}

# --- Files -------------------------------------------------------------------------------
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
SERVE_MEDIA = env_bool("SERVE_MEDIA", DEBUG)  # local disk without a separate web server

MEDIA_STORAGE = env_str("MEDIA_STORAGE", "local")  # "local" or "s3"
if MEDIA_STORAGE == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET", ""),
            "endpoint_url": env_str("S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("S3_REGION", "") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID", ""),
            "secret_key": env_str("S3_SECRET_ACCESS_KEY", ""),
            "file_overwrite": False,
        },
    }
elif MEDIA_STORAGE == "local":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured("MEDIA_STORAGE must be 'local' or 's3'.")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Uploads: refuse huge bodies before they reach the image decoder.
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 25 * 1024 * 1024)
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 500
# Any request body over this is refused (413) before it is read (config.middleware).
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 100 * 1024 * 1024)

# --- Auth, i18n --------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (safe by default; DEBUG relaxes what needs HTTPS) ---------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 24,
    # Per user, or per client address for visitors; counted in the shared cache (Redis), and applied
    # to the pages too (search.throttles).
    "DEFAULT_THROTTLE_RATES": {
        "search": env_str("SEARCH_RATE", "120/min"),
        "photo_search": env_str("PHOTO_SEARCH_RATE", "60/min"),
        "focus_search": env_str("FOCUS_SEARCH_RATE", "30/min"),
    },
    # The client address is REMOTE_ADDR unless NUM_PROXIES proxies in front add X-Forwarded-For.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Semantic image catalogue API",
    "DESCRIPTION": "Browse the catalogue and search it by item, photo, object class and words.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar's static files, not a CDN: the docs work without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Models and search -------------------------------------------------------------------
IMAGE_ENCODER = env_str("IMAGE_ENCODER", "efficientnet_lite0")  # or "vgg16"
ENCODER_RUNTIME = env_str("ENCODER_RUNTIME", "onnx")  # or "torch"
MODEL_DIR = Path(env_str("MODEL_DIR", str(LOCAL_DIR / "models")))  # exported ONNX models
VGG16_WEIGHTS = env_str("VGG16_WEIGHTS", "") or None  # a .pth file; else torchvision's cache
# Threads of the encoder in each process (0: one per core). One: a worker process also decodes,
# thumbnails and writes between encoder runs, so one single-threaded process per core kept 2 cores
# busier than one process with two threads (`manage.py benchmark_ingest`).
ENCODER_THREADS = env_int("ENCODER_THREADS", 1)
WORD_VECTORS_LIMIT = env_int("WORD_VECTORS_LIMIT", 400_000)  # most frequent GloVe words loaded
TAG_VOCABULARY_SIZE = env_int("TAG_VOCABULARY_SIZE", 50_000)  # tags come from the N most frequent words
TAGS_PER_IMAGE = env_int("TAGS_PER_IMAGE", 10)
CONSE_TOP_T = env_int("CONSE_TOP_T", 10)
EMBED_BATCH_SIZE = env_int("EMBED_BATCH_SIZE", 16)
SEARCH_MAX_K = env_int("SEARCH_MAX_K", 100)
# How deep the search pages go (page × results per page); each page ranks everything before it.
SEARCH_MAX_DEPTH = env_int("SEARCH_MAX_DEPTH", 1000)
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 100)
# pgvector's search options on every connection (SET LOCAL per search cost three more round trips):
# filtered HNSW scans would otherwise stop at ef_search candidates and return fewer than k.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["options"] = (
    f"{_db_options.get('options', '')} -c hnsw.ef_search={HNSW_EF_SEARCH} -c hnsw.iterative_scan=relaxed_order"
).strip()
# Focused search re-ranks this many candidates from the plain index exactly (docs/benchmarks.md:
# recall against the exact scan at each size); 0: the exact scan of every item (slow past 100k).
FOCUS_CANDIDATES = env_int("FOCUS_CANDIDATES", 400)
# Hybrid word search: weights of the text and meaning rankings in the reciprocal rank fusion.
# Text counts double: a title or category an admin wrote is stronger evidence than a vector.
HYBRID_TEXT_WEIGHT = float(env_str("HYBRID_TEXT_WEIGHT", "2"))
HYBRID_SEMANTIC_WEIGHT = float(env_str("HYBRID_SEMANTIC_WEIGHT", "1"))
# "More like this" and search by photo in blend mode: the meaning space's share of the similarity.
# Measured on the dev photos (precision@10 within Pascal categories): 0.5 -> 0.792, 0.6 -> 0.801,
# 0.7 -> 0.802, 0.8 -> 0.803; 0.7 sits in the plateau and keeps looks mattering.
BLEND_MEANING_WEIGHT = float(env_str("BLEND_MEANING_WEIGHT", "0.7"))
# Word search: share of the meaning space for words that name WordNet synsets, against the word
# space (measured in ml/meaning.py, WORD_MEANING_WEIGHT).
WORD_MEANING_WEIGHT = float(env_str("WORD_MEANING_WEIGHT", "0.7"))
# Trained image-to-word models (search.training): defaults chosen by measurement, see the README.
JOINT_LOSS = env_str("JOINT_LOSS", "cosine")  # or "hinge" (DeViSE's rank loss)
JOINT_HIDDEN = env_int("JOINT_HIDDEN", 512)  # the head's hidden layer
JOINT_BLEND = float(env_str("JOINT_BLEND", "0.5"))  # share of the zero-shot (ConSE) vector in a trained space
JOINT_HOLDOUT = float(env_str("JOINT_HOLDOUT", "0.2"))  # labelled items kept out of training, for evaluate
# One thread: on 2 shared cores, 2 OpenMP threads ran the head 9x slower (spinning at every small op).
TRAINING_THREADS = env_int("TRAINING_THREADS", 1)
# After training, switch to the new space if it beats the active one on the catalogue's evaluation.
JOINT_AUTO_ACTIVATE = env_bool("JOINT_AUTO_ACTIVATE", True)
# Refuse to activate a joint space that does not beat the active one on the catalogue's evaluation.
JOINT_ACTIVATION_REQUIRES_IMPROVEMENT = env_bool("JOINT_ACTIVATION_REQUIRES_IMPROVEMENT", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
