"""How many web processes, threads and database connections serve the site.

One place for the arithmetic shared by `config/gunicorn.py` (the web server) and
`config.local_servers` (the embedded PostgreSQL's `max_connections`); the README explains it.
"""

import os

from config.env import env_int

# ./dev run starts one Celery worker process (--concurrency=1): one connection while it works.
WORKER_CONNECTIONS = 1
# Management commands, shells, `./dev test` (its test worker and its own web server) beside a run.
SPARE_CONNECTIONS = 30


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def web_workers() -> int:
    """Gunicorn worker processes: one per CPU core."""
    return env_int("WEB_WORKERS", cpu_cores())


def web_threads() -> int:
    """Threads per worker process (requests mostly wait on PostgreSQL, so a few per core)."""
    return env_int("WEB_THREADS", 4)


def web_pool_size() -> int:
    """Database connections per web process: one per thread unless DB_POOL_MAX_SIZE says less."""
    return env_int("DB_POOL_MAX_SIZE", 0) or web_threads()


def web_connections() -> int:
    return web_workers() * web_pool_size()


def postgres_max_connections() -> int:
    """`max_connections` for the project's own PostgreSQL (PG_MAX_CONNECTIONS overrides)."""
    return env_int("PG_MAX_CONNECTIONS", web_connections() + WORKER_CONNECTIONS + SPARE_CONNECTIONS)
