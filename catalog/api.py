"""JSON API for catalogue items (DRF). Views stay thin: services and search modes do the work."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import services
from catalog.models import Category, Image
from ml.images import InvalidImage
from search import modes
from search.api import ImageResultsSerializer, SearchFiltersSerializer, image_results_response


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


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.CharField(max_length=120, help_text="Category slug or name; a new name creates it.")


class ImageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ImageSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        images = Image.objects.select_related("category")
        if self.action == "list":
            images = images.filter(status=Image.Status.READY)
            if category := self.request.query_params.get("category"):
                images = images.filter(category__slug=category)
        return images

    @extend_schema(parameters=[OpenApiParameter("category", str, description="Category slug")])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer},
        responses={
            201: inline_serializer("Created", {"id": serializers.IntegerField(), "status": serializers.CharField()}),
            400: inline_serializer(
                "UploadError", {"detail": serializers.CharField(), "existing_id": serializers.IntegerField()}
            ),
        },
    )
    def create(self, request: Request) -> Response:
        """Upload an image (staff session or API token); it is processed by the workers."""
        if not request.user.is_staff:
            return Response({"detail": "Only staff users can upload images."}, status=status.HTTP_403_FORBIDDEN)
        upload = ImageUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        name = data["category"].strip()
        category = Category.objects.filter(Q(slug=name) | Q(name__iexact=name)).first()
        try:
            image = services.create_image(
                data=services.read_upload(data["file"]),
                filename=data["file"].name,
                category=category or services.get_or_create_category(name),
                title=data.get("title", ""),
                description=data.get("description", ""),
                uploaded_by=request.user,
            )
        except InvalidImage as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        except services.DuplicateImage as exc:
            return Response({"detail": str(exc), "existing_id": exc.existing.pk}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"id": image.pk, "status": image.status}, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[SearchFiltersSerializer], responses=ImageResultsSerializer)
    @action(detail=True, methods=["get"])
    def similar(self, request: Request, pk: str) -> Response:
        """More like this, optionally focused on one ImageNet class."""
        image = self.get_object()
        return image_results_response(
            request, lambda filters, focus: modes.similar_items(image, filters, focus_class=focus)
        )
