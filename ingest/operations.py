"""The processing pipeline as the operations page shows it: queue, workers, reconciler."""

from __future__ import annotations

from datetime import datetime

import redis
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from infra.cache import cache_call_or

LAST_RECONCILE_KEY = "operations:last-reconcile"


def queue_length() -> int:
    """Tasks waiting in the Celery queue (a Redis list on the broker)."""
    with redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2) as client:
        return int(client.llen(current_app.conf.task_default_queue))


def workers_seen(timeout: float = 1.0) -> list[str]:
    """Workers that answer a ping (a worker busy in a solo pool cannot answer)."""
    return sorted(name for reply in current_app.control.ping(timeout=timeout) for name in reply)


def workers_answering() -> list[str] | None:
    """`workers_seen`, or None when the broker cannot be reached."""
    try:
        return workers_seen()
    except (RedisError, BrokerError, OSError):
        return None


def record_reconcile(*, queued: int) -> None:
    cache.set(LAST_RECONCILE_KEY, {"at": timezone.now(), "queued": queued}, timeout=None)


def last_reconcile() -> dict[str, datetime | int] | None:
    """The reconciler's last run; None also while Redis does not answer (the page still renders)."""
    return cache_call_or(lambda: cache.get(LAST_RECONCILE_KEY), None)
