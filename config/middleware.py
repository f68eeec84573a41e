"""Request hygiene before any view runs: bodies over MAX_REQUEST_BYTES are refused unread (413),
and query strings holding a NUL character, which no PostgreSQL text can store, are refused (400).
Then each request's reads are routed to a replica or the primary (config/db_router.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import unquote_plus

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from config import db_router

logger = logging.getLogger(__name__)


def refuse(request: HttpRequest, message: str, status: int) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads a malformed length as an empty body
        limit = settings.MAX_REQUEST_BYTES
        if length > limit:
            return refuse(request, f"The request is larger than the limit of {limit / (1024 * 1024):g} MB.", 413)
        if "\x00" in unquote_plus(request.META.get("QUERY_STRING", ""), errors="replace"):
            return refuse(request, "The address contains a NUL character.", 400)
        return self.get_response(request)


class ReplicaReadsMiddleware:
    """Routes the request's reads (`db_router.read_alias_for`); after a request that wrote, the
    client reads the primary for REPLICA_STICKY_SECONDS. A replica that fails mid-request is
    skipped and the view runs again on the primary (only GET and HEAD requests read replicas)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        route = db_router.Route(alias=db_router.read_alias_for(request))
        token = db_router.current_route.set(route)
        try:
            response = self.get_response(request)
        finally:
            db_router.current_route.reset(token)
        if settings.DATABASE_REPLICAS and (route.wrote or request.method not in ("GET", "HEAD")):
            response.set_cookie(
                db_router.STICKY_COOKIE,
                "1",
                max_age=settings.REPLICA_STICKY_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        route = db_router.current_route.get()
        failed = isinstance(exception, OperationalError | InterfaceError)
        if route is None or route.alias == DEFAULT_DB_ALIAS or not failed:
            return None
        logger.warning("Replica %s failed (%s); reading from the primary.", route.alias, exception)
        db_router.mark_unusable(route.alias)
        route.alias = DEFAULT_DB_ALIAS
        return self.get_response(request)
