"""Settings, all from the environment (12-factor).

Without DATABASE_URL / REDIS_URL in the environment, the values written by
`config.local_servers` (the project's own PostgreSQL and Redis, started by `./dev`) are used.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

from config.env import BASE_DIR, LOCAL_DIR, env_bool, env_int, env_list, env_str
from config.replicas import replica_database

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
    "spaces",
    "ingest",
    "search",
    "learning",
    "bench",
]

MIDDLEWARE = [
    "config.health.HealthCheckMiddleware",  # /healthz: before the host check and the HTTPS redirect
    "config.middleware.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.unavailable.DatabaseUnavailableMiddleware",  # PostgreSQL down: a fast 503, not a 500
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.ReplicaReadsMiddleware",  # after authentication: staff read the primary
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
# A database that is down or restarting must cost a request seconds, not half a minute.
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 3)
DATABASE_RETRY_AFTER = float(env_str("DATABASE_RETRY_AFTER", "1"))  # seconds of fast 503s after a failure
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
        "timeout": env_int("DB_POOL_TIMEOUT", 2),  # seconds a request waits for a free connection
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
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ... and the batch is split when it comes back (ingest.pipeline)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # embedding is slow; don't hoard tasks
CELERY_TASK_IGNORE_RESULT = True
# visibility_timeout: longer than any task may run. Socket timeouts, and no retry of a failed publish
# in the request: an upload whose broker stalls keeps its item pending (the reconciler queues it).
_broker_timeout = float(env_str("BROKER_SOCKET_TIMEOUT", "2"))
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_timeout": _broker_timeout}
CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] = _broker_timeout
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_ALWAYS_EAGER = False
# A batch over the soft limit is split (one item alone fails); the hard limit kills a stuck process.
# The first batch on a new machine also loads the models and may import the word vectors.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("TASK_TIME_LIMIT", CELERY_TASK_SOFT_TIME_LIMIT + 60)
# A claim older than this belongs to a run whose worker died: the reconciler queues the item again.
PROCESSING_STALE_AFTER = env_int("PROCESSING_STALE_AFTER", CELERY_TASK_TIME_LIMIT + 60)
# Runs of one item alone that may kill their worker before the item is marked failed.
PROCESSING_MAX_INTERRUPTIONS = env_int("PROCESSING_MAX_INTERRUPTIONS", 2)
# The reconciler (ingest.tasks.reconcile) runs in Celery beat, embedded in the worker (`worker -B`).
RECONCILE_INTERVAL = env_int("RECONCILE_INTERVAL", 60)
RECONCILE_PENDING_AFTER = env_int("RECONCILE_PENDING_AFTER", 300)  # seconds pending before re-queueing
# Stored files no item references (a crash between storing a file and committing its row, a
# deletion whose file removal failed) are deleted once older than ORPHAN_FILES_AFTER seconds.
ORPHAN_SWEEP_INTERVAL = env_int("ORPHAN_SWEEP_INTERVAL", 3600)
ORPHAN_FILES_AFTER = env_int("ORPHAN_FILES_AFTER", 3600)
CELERY_BEAT_SCHEDULE = {
    "reconcile": {"task": "ingest.tasks.reconcile", "schedule": RECONCILE_INTERVAL},
    "remove-orphan-files": {"task": "ingest.tasks.remove_orphan_files", "schedule": ORPHAN_SWEEP_INTERVAL},
    # Training on its own when enough described items arrived (a no-op unless JOINT_AUTO_TRAIN).
    "train-when-due": {"task": "learning.tasks.train_when_due", "schedule": env_int("JOINT_AUTO_TRAIN_INTERVAL", 3600)},
}
CELERY_BEAT_SCHEDULER = "celery.beat:Scheduler"  # in memory: no schedule file to keep

# --- Cache: Redis, shared by every web process (throttles) and worker (operations page) ------
CACHE_URL = env_str("CACHE_URL", redis_db(REDIS_URL, 1))
# Bounded waits: a stalled Redis must not hold a request (infra/cache.py answers without it).
CACHE_SOCKET_TIMEOUT = float(env_str("CACHE_SOCKET_TIMEOUT", "0.5"))
CACHE_RETRY_AFTER = env_int("CACHE_RETRY_AFTER", 5)  # seconds a process goes on without Redis after a failure
_cache_timeouts = {"socket_timeout": CACHE_SOCKET_TIMEOUT, "socket_connect_timeout": CACHE_SOCKET_TIMEOUT}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "OPTIONS": _cache_timeouts,
    }
}

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
# Search by photo decodes in the web process: a lower limit and a bound per process on photos decoded
# at once (ml.images.open_query_photo) keep eight searches at once under 400 MB (docs/reliability.md).
PHOTO_SEARCH_MAX_PIXELS = env_int("PHOTO_SEARCH_MAX_PIXELS", 16_000_000)
PHOTO_DECODE_CONCURRENCY = env_int("PHOTO_DECODE_CONCURRENCY", 2)
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
LOGIN_REDIRECT_URL = "admin:index"  # also where a login whose ?next= was refused lands
# Failed logins (config/login_throttle.py): over either limit within the window, logins are refused.
AUTHENTICATION_BACKENDS = ["config.login_throttle.ThrottledModelBackend"]
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 900)
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (safe by default; plain HTTP only with DEBUG or HTTPS=false, as ./dev run sets) --
HTTPS = env_bool("HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
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
SPECTACULAR_SETTINGS = {"TITLE": "Semantic image catalogue API", "VERSION": "1.0.0", "SERVE_INCLUDE_SCHEMA": False}
SPECTACULAR_SETTINGS["DESCRIPTION"] = "Browse the catalogue and search it by item, photo, object class and words."
# Swagger UI from the sidecar's static files, not a CDN: the docs work without internet.
SPECTACULAR_SETTINGS |= dict.fromkeys(("SWAGGER_UI_DIST", "SWAGGER_UI_FAVICON_HREF", "REDOC_DIST"), "SIDECAR")

# --- Models and search (config/model_settings.py) ----------------------------------------
from config.model_settings import *  # noqa: E402,F403
from config.model_settings import HNSW_EF_SEARCH  # noqa: E402

# pgvector's search options on every connection (SET LOCAL per search cost three more round trips):
# filtered HNSW scans would otherwise stop at ef_search candidates and return fewer than k.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["options"] = (
    f"{_db_options.get('options', '')} -c hnsw.ef_search={HNSW_EF_SEARCH} -c hnsw.iterative_scan=relaxed_order"
).strip()

# --- Read replicas (config/db_router.py, docs/scaling.md) ---------------------------------
# Streaming replicas of the primary, comma-separated URLs: searches read from them. The project's
# own (`config.local_servers start --replica`) only with its own primary.
_local = LOCAL_SERVERS.get("DATABASE_URL") == DATABASE_URL and LOCAL_SERVERS.get("DATABASE_REPLICA_URLS") or ""
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS", [url for url in _local.split(",") if url])
REPLICA_READ_PATHS = ["/search/", "/api/search/"]  # the pages and API calls that read replicas
REPLICA_CONNECT_TIMEOUT = env_int("REPLICA_CONNECT_TIMEOUT", 2)  # seconds; libpq's least
REPLICA_MAX_LAG = float(env_str("REPLICA_MAX_LAG", "5"))  # seconds behind the primary before it is skipped
REPLICA_HEALTH_CACHE = float(env_str("REPLICA_HEALTH_CACHE", "5"))  # seconds between checks, per process
# A client reads the primary this long after a request of theirs wrote (the lag is ~20 ms, docs/scaling.md).
REPLICA_STICKY_SECONDS = env_int("REPLICA_STICKY_SECONDS", 10)
DATABASE_REPLICAS = [f"replica{n}" for n in range(1, len(DATABASE_REPLICA_URLS) + 1)]  # their aliases
for _alias, _url in zip(DATABASE_REPLICAS, DATABASE_REPLICA_URLS, strict=True):
    DATABASES[_alias] = replica_database(_url, DATABASES["default"], REPLICA_CONNECT_TIMEOUT)
DATABASE_ROUTERS = ["config.db_router.ReplicaRouter"]

_console = {"console": {"class": "logging.StreamHandler"}}
LOGGING = {"version": 1, "disable_existing_loggers": False, "handlers": _console}
LOGGING["root"] = {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")}
