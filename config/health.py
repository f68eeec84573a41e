"""`/healthz` for load balancers: the database answers, Redis answers, a Celery worker was seen.

The answer comes from a middleware placed first, before the host check and the HTTPS redirect:
load balancers probe by address over plain HTTP. Every check is bounded in time (Redis: 1 s
timeouts; the database: DB_POOL_TIMEOUT in web processes), so a probe cannot hang.

Workers are seen through a heartbeat: each worker process writes its name and the time into a
Redis sorted set every HEARTBEAT_SECONDS (a thread started on `worker_ready`, so a long task does
not silence it), and removes itself when it stops.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)

WORKERS_KEY = "catalogue:workers"  # sorted set: worker hostname -> time of its last heartbeat
HEARTBEAT_SECONDS = 10
WORKER_MAX_AGE_SECONDS = 3 * HEARTBEAT_SECONDS
PATH = "/healthz"


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.warning("Health check: the database does not answer", exc_info=True)
        return "failing"
    return "ok"


def check_redis_and_worker() -> tuple[str, str]:
    try:
        seen = _redis(settings.CELERY_BROKER_URL).zcount(WORKERS_KEY, time.time() - WORKER_MAX_AGE_SECONDS, "+inf")
    except redis.RedisError:
        logger.warning("Health check: Redis does not answer", exc_info=True)
        return "failing", "unknown"
    return "ok", "ok" if seen else f"none seen in the last {WORKER_MAX_AGE_SECONDS} s"


def health() -> JsonResponse:
    redis_status, worker_status = check_redis_and_worker()
    checks = {"database": check_database(), "redis": redis_status, "worker": worker_status}
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "failing", "checks": checks}
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    """Answers /healthz before anything else runs (first in MIDDLEWARE)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.path_info.rstrip("/") == PATH:
            return health()
        return self.get_response(request)


class Heartbeat(threading.Thread):
    """Runs in a Celery worker's main process: says "still here" every HEARTBEAT_SECONDS."""

    def __init__(self, hostname: str) -> None:
        super().__init__(name="health-heartbeat", daemon=True)
        self.hostname = hostname
        self.stopping = threading.Event()

    def beat(self) -> None:
        now = time.time()
        with _redis(settings.CELERY_BROKER_URL).pipeline() as pipe:
            pipe.zadd(WORKERS_KEY, {self.hostname: now})
            pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 24 * 3600)  # workers long gone
            pipe.execute()

    def run(self) -> None:
        while True:
            try:
                self.beat()
            except redis.RedisError:
                logger.warning("Worker heartbeat: Redis does not answer", exc_info=True)
            if self.stopping.wait(HEARTBEAT_SECONDS):
                return

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=2)
        with contextlib.suppress(redis.RedisError):
            _redis(settings.CELERY_BROKER_URL).zrem(WORKERS_KEY, self.hostname)
