"""Request hygiene before any view runs: bodies over MAX_REQUEST_BYTES are refused unread (413),
and query strings holding a NUL character, which no PostgreSQL text can store, are refused (400)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_plus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


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
