"""One place that turns the domain's errors into JSON answers, so API views need no try/except."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from catalog.services import STORAGE_UNAVAILABLE, DuplicateImage
from config.unavailable import RETRY_AFTER_SECONDS
from ml.images import InvalidImage, UploadTooLarge
from search.parsing import QueryError

logger = logging.getLogger(__name__)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DuplicateImage):
        return Response({"detail": str(exc), "existing_id": exc.existing.pk}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, UploadTooLarge):
        return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, InvalidImage | QueryError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, OSError):  # the media storage refused a write (full, read-only, unreachable)
        logger.warning("%s answered 503: %r", context["request"].path, exc)
        return Response(
            {"detail": STORAGE_UNAVAILABLE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    # Validation errors, throttling, authentication and permissions: DRF's own answers, each with
    # a `detail` message (validation errors also keep their per-field messages).
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, ValidationError):
        response.data = {
            "detail": _summary(response.data),
            **(response.data if isinstance(response.data, dict) else {}),
        }
    return response


def _summary(errors: object, field: str = "") -> str:
    """One readable line from DRF's nested validation errors: "file: No file was submitted." """
    if isinstance(errors, dict):
        return " ".join(_summary(value, name if name != "non_field_errors" else "") for name, value in errors.items())
    if isinstance(errors, list):
        return " ".join(_summary(value, field) for value in errors)
    return f"{field}: {errors}" if field else str(errors)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Addresses that match no URL: JSON under /api/, like every other API answer."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
