"""Calls to the shared cache (Redis) on a request path, with an answer when Redis is slow or gone.

Searching needs PostgreSQL, not Redis: a throttle or a page that reads the cache gets `fallback`
instead of an error when Redis times out (the cache's socket timeout, CACHE_SOCKET_TIMEOUT) or
refuses the connection. After a failure this process skips Redis for CACHE_RETRY_AFTER seconds,
so that a stalled Redis costs one timeout per process and interval, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
T = TypeVar("T")

_lock = threading.Lock()
_skip_until = 0.0


class CacheUnavailable(Exception):
    """Redis does not answer (now, or it did not a moment ago)."""


def cache_call(call: Callable[[], T]) -> T:
    """Run a cache call; raise CacheUnavailable at once while Redis is known to be unavailable."""
    global _skip_until
    if time.monotonic() < _skip_until:
        raise CacheUnavailable("The cache did not answer a moment ago.")
    try:
        return call()
    except (RedisError, OSError) as exc:
        with _lock:
            _skip_until = time.monotonic() + settings.CACHE_RETRY_AFTER
        logger.warning(
            "The cache (Redis) does not answer; going on without it for %ss: %s", settings.CACHE_RETRY_AFTER, exc
        )
        raise CacheUnavailable(str(exc)) from exc


def cache_call_or(call: Callable[[], T], fallback: T) -> T:
    """A cache call's answer, or `fallback` while Redis does not answer."""
    try:
        return cache_call(call)
    except CacheUnavailable:
        return fallback
