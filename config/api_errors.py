"""One place that turns the domain's errors into JSON answers, so API views need no try/except."""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from catalog.services import DuplicateImage
from ml.images import InvalidImage, UploadTooLarge
from search.queries import QueryError


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DuplicateImage):
        return Response({"detail": str(exc), "existing_id": exc.existing.pk}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, UploadTooLarge):
        return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, InvalidImage | QueryError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    # Validation errors, throttling, authentication and permissions: DRF's own answers.
    return exception_handler(exc, context)
