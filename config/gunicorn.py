"""Gunicorn settings: `gunicorn -c config/gunicorn.py config.wsgi` (what `./dev run` runs).

Command-line options and GUNICORN_CMD_ARGS override these (e.g. `--bind 0.0.0.0:8000`).
Each worker process gets its own pool of DB_POOL_MAX_SIZE database connections (default: one per
thread), so the site holds at most workers x pool size connections (see config/serving.py).
"""

import os

from config import serving

bind = [f"127.0.0.1:{os.environ.get('PORT', '8000')}"]
workers = serving.web_workers()
threads = serving.web_threads()
worker_class = "gthread"
# The application (and its connection pool) is loaded in each worker after the fork: no database
# socket is ever shared between processes.
preload_app = False
timeout = 60  # a search by photo runs the CNN in the request
graceful_timeout = 30
keepalive = 5
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Gunicorn's control socket lives at one path per user; several servers on a machine would fight.
control_socket_disable = True


def post_fork(server, worker) -> None:
    """Web processes use Django's psycopg pool, sized to the thread count unless set explicitly.

    Only web processes get a pool: Celery workers and management commands open one connection
    when they need it (config/settings.py)."""
    os.environ.setdefault("DB_POOL_MAX_SIZE", str(server.cfg.threads))
