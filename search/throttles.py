"""Throttles for the search API and pages: one set of rules, counted in the shared cache (Redis).

The API views use the classes directly; the pages use `throttle_page`. The client is the user,
or for visitors the address that DRF's NUM_PROXIES setting says to trust.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from infra.cache import cache_call_or


class ScopedThrottle(UserRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)  # read per request: settings can change

    def allow_request(self, request, view) -> bool:
        # Searching needs PostgreSQL, not Redis: while the counts cannot be read, searches pass.
        return cache_call_or(lambda: super(ScopedThrottle, self).allow_request(request, view), True)


class SearchThrottle(ScopedThrottle):
    scope = "search"


class PhotoSearchThrottle(ScopedThrottle):
    """Searches by photo run the CNN in the request; showing the form (GET) is free."""

    scope = "photo_search"

    def allow_request(self, request, view) -> bool:
        return request.method != "POST" or super().allow_request(request, view)


class FocusSearchThrottle(ScopedThrottle):
    """Focused searches scan every candidate (no index can serve them); others pass."""

    scope = "focus_search"

    def allow_request(self, request, view) -> bool:
        if not (request.GET.get("focus_class") or request.POST.get("focus_class")):
            return True
        return super().allow_request(request, view)


def throttle_page(*throttles: type[ScopedThrottle]) -> Callable:
    """The API's throttles for a page view: over the limit, a 429 page that says when to retry."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def throttled(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            for throttle_class in throttles:
                throttle = throttle_class()
                if not throttle.allow_request(request, None):
                    wait = max(1, round(throttle.wait() or 1))
                    template = "search/_throttled.html" if request.htmx else "search/throttled.html"
                    response = render(request, template, {"wait": wait}, status=429)
                    response["Retry-After"] = str(wait)
                    return response
            return view(request, *args, **kwargs)

        return throttled

    return decorate
