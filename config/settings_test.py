"""Test settings: the real servers, a separate Redis database and media folder, fewer words."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from config.settings import *  # noqa: E402,F403
from config.settings import BASE_DIR, LOCAL_DIR, REDIS_URL, redis_db  # noqa: E402

# Tests must never feed a development worker that may be running on the same Redis.
CELERY_BROKER_URL = redis_db(REDIS_URL, 15)
CACHES["default"]["LOCATION"] = redis_db(REDIS_URL, 14)  # noqa: F405
# Throttles are tested with their own rates; the other tests search far more often than visitors.
for _scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]:  # noqa: F405
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][_scope] = "100000/min"  # noqa: F405
MEDIA_ROOT = LOCAL_DIR / "test-media"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SERVE_MEDIA = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests create, switch and roll back spaces between searches; tests/test_serving_spaces.py
# tests the cache itself.
SERVING_SPACES_SECONDS = 0
# The 50k most frequent words hold every word the tests ask for and load in seconds.
WORD_VECTORS_LIMIT = 50_000
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATICFILES_DIRS = [BASE_DIR / "static"]
# The web server started by test_serving.py serves the stylesheet without collectstatic.
WHITENOISE_USE_FINDERS = True
# Tests switch spaces themselves: a trained space must not activate itself when it wins.
JOINT_AUTO_ACTIVATE = False
# Other tests read and write the primary only. tests/test_replica.py starts the project's own
# replica and opts in (DATABASE_REPLICAS). As a test mirror of `default` the alias reads the
# primary's test database, which a physical replica holds like every other.
from config.local_servers import REPLICA_URL  # noqa: E402
from config.replicas import replica_database  # noqa: E402
from config.settings import DATABASES, REPLICA_CONNECT_TIMEOUT  # noqa: E402

DATABASES = {
    "default": DATABASES["default"],
    "replica1": replica_database(REPLICA_URL, DATABASES["default"], REPLICA_CONNECT_TIMEOUT),
}
DATABASE_REPLICAS: list[str] = []
