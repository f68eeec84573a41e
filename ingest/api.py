"""JSON API for the catalogue writes that queue processing: upload and reprocess (staff only)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import api as catalog_api
from catalog import services as catalog
from catalog.api import ERROR
from catalog.models import Category
from ingest import services, tasks
from ml.images import read_upload

ITEM_STATUS = {"id": serializers.IntegerField(), "status": serializers.CharField()}


class IsStaff(BasePermission):
    message = "Only staff users (session or API token) can upload or reprocess images."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_staff)


class ImageUploadSerializer(serializers.Serializer):
    file = catalog_api.OneFileField()
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.CharField(max_length=120, help_text="Category slug or name; a new name creates it.")


class ImageViewSet(catalog_api.ImageViewSet):
    """Catalogue items; staff can also upload and reprocess them, which queues the workers."""

    parser_classes = [MultiPartParser, FormParser]

    def get_permissions(self):
        if self.action in ("create", "reprocess"):
            return [IsStaff()]
        return super().get_permissions()

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer},
        responses={
            201: inline_serializer("Created", ITEM_STATUS),
            400: ERROR,
            409: inline_serializer(
                "Duplicate", {"detail": serializers.CharField(), "existing_id": serializers.IntegerField()}
            ),
            413: ERROR,
            415: ERROR,  # a body that is not multipart (or is malformed)
            503: ERROR,  # the storage refused the file (nothing is kept)
        },
    )
    def create(self, request: Request) -> Response:
        """Upload an image (staff session or API token); it is processed by the workers."""
        upload = ImageUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        name = data["category"].strip()
        category = Category.objects.filter(slug=name).first() or catalog.find_category(name)
        image = services.add_image(
            data=read_upload(data["file"], max_bytes=settings.MAX_UPLOAD_BYTES),
            filename=data["file"].name,
            category=category or catalog.get_or_create_category(name),
            title=data.get("title", ""),
            description=data.get("description", ""),
            uploaded_by=request.user,
        )
        return Response({"id": image.pk, "status": image.status}, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={202: inline_serializer("Queued", ITEM_STATUS), 400: ERROR, 404: ERROR, 415: ERROR},
    )
    @action(detail=True, methods=["post"])
    def reprocess(self, request: Request, pk: str) -> Response:
        """Process the item again; a ready item stays searchable meanwhile."""
        image = self.get_object()
        tasks.reprocess([image.pk])
        image.refresh_from_db(fields=["status"])
        return Response({"id": image.pk, "status": image.status}, status=status.HTTP_202_ACCEPTED)
