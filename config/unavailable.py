"""503 answers for a part that is down: the database (any request) and storage (uploads).

While PostgreSQL restarts or is unreachable, a request gets a fast 503 with `Retry-After` (JSON
with a `detail` under /api/), never a 500: the middleware answers for errors raised in views,
`server_error` (handler500) for the ones raised anywhere else (a middleware's own queries).
Connections fail fast: DB_CONNECT_TIMEOUT and the pool's DB_POOL_TIMEOUT bound the wait, and
for DATABASE_RETRY_AFTER seconds after a failure a process answers 503 without waiting again
(requests would otherwise queue behind each other's timeouts).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import server_error as django_server_error

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
DATABASE_DOWN = "The catalogue's database is not answering right now; please try again in a few seconds."
DATABASE_ERRORS = (OperationalError, InterfaceError)


def service_unavailable(request: HttpRequest, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.down_until = 0.0  # per process: each web process finds out for itself

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if time.monotonic() < self.down_until:
            return service_unavailable(request, DATABASE_DOWN)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            logger.warning("Database unavailable for %s: %s", request.path, exception)
            self.down_until = time.monotonic() + settings.DATABASE_RETRY_AFTER
            return service_unavailable(request, DATABASE_DOWN)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that is down is a 503 wherever it was noticed; JSON under /api/."""
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return service_unavailable(request, DATABASE_DOWN)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Something went wrong on our side."}, status=500)
    return django_server_error(request)
