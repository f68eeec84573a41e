"""JSON API for browsing catalogue items (DRF). Uploads extend it in `ingest.api`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import selectors
from catalog.models import Image

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})


class OneFileField(serializers.FileField):
    """A file field that refuses several files under its name (a plain one keeps the last silently)."""

    default_error_messages = {"several": "Send one file per request in this field."}

    def get_value(self, dictionary):
        files = dictionary.getlist(self.field_name) if hasattr(dictionary, "getlist") else []
        return files if len(files) > 1 else super().get_value(dictionary)

    def to_internal_value(self, data):
        if isinstance(data, list):
            self.fail("several")
        return super().to_internal_value(data)


class ImageSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.name")
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    tags = inline_serializer("Tag", {"word": serializers.CharField(), "score": serializers.FloatField()}, many=True)
    classes = inline_serializer(
        "ImageNetClass",
        {
            "index": serializers.IntegerField(),
            "label": serializers.CharField(),
            "probability": serializers.FloatField(),
        },
        many=True,
    )

    class Meta:
        model = Image
        fields = [
            "id", "title", "description", "category", "status", "error", "width", "height",
            "image_url", "thumbnail_url", "tags", "classes", "created_at",
        ]  # fmt: skip

    def _absolute(self, field) -> str | None:
        return self.context["request"].build_absolute_uri(field.url) if field else None

    def get_image_url(self, obj: Image) -> str | None:
        return self._absolute(obj.original)

    def get_thumbnail_url(self, obj: Image) -> str | None:
        return self._absolute(obj.thumbnail)


class ImageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ImageSerializer

    def get_queryset(self):
        # Visitors see ready items only; staff also pending and failed ones, with their error.
        images = selectors.images_visible_to(self.request.user)
        if self.action == "list":
            images = images.filter(status=Image.Status.READY)
            if category := self.request.query_params.get("category"):
                images = images.filter(category__slug=category)
        return images

    @extend_schema(responses={200: ImageSerializer, 400: ERROR, 404: ERROR})
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        parameters=[OpenApiParameter("category", str, description="Category slug")],
        responses={200: ImageSerializer(many=True), 400: ERROR, 404: ERROR},
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)
