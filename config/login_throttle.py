"""Failed logins are counted per account and per client address in the shared cache (Redis) and,
over LOGIN_FAILURES_PER_ACCOUNT / LOGIN_FAILURES_PER_ADDRESS within LOGIN_FAILURE_WINDOW
seconds, further logins are refused, the right password included, until the window passes.

The check is Django's model backend with the throttle in front (the one backend): raising
PermissionDenied stops `authenticate()` before any password is checked. Unlike searches, logins fail closed: while Redis
does not answer, no one can log in with a password. Every failure is logged with its address.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from infra.cache import CacheUnavailable, cache_call, cache_call_or

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, or what the NUM_PROXIES trusted proxies say (as the search throttles read it)."""
    return BaseThrottle().get_ident(request)


def _keys(request: HttpRequest | None, username: str) -> dict[str, str]:
    account = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    keys = {"account": f"login-failures:account:{account}"}
    if request is not None:
        keys["address"] = f"login-failures:address:{client_address(request)}"
    return keys


def _limits() -> dict[str, int]:
    return {"account": settings.LOGIN_FAILURES_PER_ACCOUNT, "address": settings.LOGIN_FAILURES_PER_ADDRESS}


class ThrottledModelBackend(ModelBackend):
    """Django's backend; refuses every login for an account or address over its limit."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        if username is None:
            return super().authenticate(request, username, password, **kwargs)
        keys = _keys(request, username)
        try:
            counts = cache_call(lambda: cache.get_many(list(keys.values())))
        except CacheUnavailable:
            logger.warning("Login refused for %r: the failure counts (Redis) cannot be read", username)
            raise PermissionDenied from None
        limits = _limits()
        for kind, key in keys.items():
            if counts.get(key, 0) >= limits[kind]:
                logger.warning("Login refused for %r: too many failed logins for its %s", username, kind)
                raise PermissionDenied
        return super().authenticate(request, username, password, **kwargs)


@receiver(user_login_failed, dispatch_uid="config.login_throttle.count")
def count_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    username = str(credentials.get("username", ""))
    address = client_address(request) if request is not None else "unknown"
    logger.warning("Failed login for %r from %s", username, address)
    window = settings.LOGIN_FAILURE_WINDOW

    def count() -> None:
        for key in _keys(request, username).values():
            cache.add(key, 0, timeout=window)  # the window starts at the first failure
            cache.incr(key)

    cache_call_or(count, None)  # without Redis, logins are refused meanwhile (ThrottledModelBackend)


@receiver(user_logged_in, dispatch_uid="config.login_throttle.reset")
def reset_account(sender, request: HttpRequest | None, user, **kwargs) -> None:
    key = _keys(None, user.get_username())["account"]
    cache_call_or(lambda: cache.delete(key), None)
