"""JSON API for the search modes. Every endpoint calls the same search.modes function as the pages."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes, permission_classes, throttle_classes
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from catalog.models import Category
from catalog.services import read_upload
from ml.imagenet import matching_classes
from ml.images import InvalidImage, open_image
from search import modes
from search.queries import QueryError


class SearchFiltersSerializer(serializers.Serializer):
    k = serializers.IntegerField(required=False, min_value=1, default=24, help_text="Capped at SEARCH_MAX_K.")
    category = serializers.SlugField(required=False, help_text="Category slug")
    min_score = serializers.FloatField(required=False, min_value=-1, max_value=1)
    focus_class = serializers.IntegerField(required=False, min_value=0, max_value=999, help_text="ImageNet class index")

    def validate_category(self, slug: str) -> Category:
        category = Category.objects.filter(slug=slug).first()
        if category is None:
            raise serializers.ValidationError(f"No category {slug!r}.")
        return category

    def filters(self) -> modes.Filters:
        data = self.validated_data
        return modes.Filters(k=data["k"], category=data.get("category"), min_score=data.get("min_score"))


class HitSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="image.pk")
    title = serializers.CharField(source="image.title")
    category = serializers.CharField(source="image.category.name")
    score = serializers.FloatField()
    why = serializers.ListField(child=serializers.CharField(), help_text="The item's tags nearest to the query.")
    thumbnail_url = serializers.SerializerMethodField()

    def get_thumbnail_url(self, hit) -> str | None:
        thumbnail = hit.image.thumbnail
        return self.context["request"].build_absolute_uri(thumbnail.url) if thumbnail else None


class ImageResultsSerializer(serializers.Serializer):
    results = HitSerializer(source="hits", many=True)
    unknown_words = serializers.ListField(child=serializers.CharField())
    focus_class = serializers.IntegerField(allow_null=True)


def error(message: str, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"detail": message}, status=code)


def image_results_response(
    request: Request, search: Callable[[modes.Filters, int | None], modes.ImageResults]
) -> Response:
    params = SearchFiltersSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    try:
        results = search(params.filters(), params.validated_data.get("focus_class"))
    except QueryError as exc:
        return error(str(exc))
    return Response(ImageResultsSerializer(results, context={"request": request}).data)


class PhotoSearchThrottle(UserRateThrottle):
    scope = "photo_search"  # per user, or per address for visitors


class WordQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=500, help_text="Words: `cat sofa`, `cat +sofa -dog`, `2:cat`.")


@extend_schema(parameters=[WordQuerySerializer, SearchFiltersSerializer], responses=ImageResultsSerializer)
@api_view(["GET"])
def search_images(request: Request) -> Response:
    """Images for words, even words no image was labelled with."""
    query = WordQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return image_results_response(
        request, lambda filters, _: modes.images_for_words(query.validated_data["q"], filters)
    )


@extend_schema(
    parameters=[SearchFiltersSerializer],
    request={"multipart/form-data": inline_serializer("PhotoUpload", {"file": serializers.FileField()})},
    responses=ImageResultsSerializer,
)
@api_view(["POST"])
@permission_classes([AllowAny])  # visitors search by photo; nothing is stored
@throttle_classes([PhotoSearchThrottle])  # each request runs the CNN: keep one client from hogging it
@parser_classes([MultiPartParser])
def search_by_photo(request: Request) -> Response:
    """Items similar to an uploaded photo (the photo is not stored)."""
    upload = request.FILES.get("file")
    if upload is None:
        return error("Send the photo as the multipart field `file`.")
    try:
        picture = open_image(read_upload(upload), max_pixels=settings.MAX_IMAGE_PIXELS)
    except InvalidImage as exc:
        return error(str(exc))
    return image_results_response(
        request, lambda filters, focus: modes.similar_to_photo(picture, filters, focus_class=focus)
    )


class WordSearchSerializer(WordQuerySerializer):
    k = serializers.IntegerField(required=False, min_value=1, default=10)


@extend_schema(
    parameters=[WordSearchSerializer],
    responses=inline_serializer(
        "SimilarWords",
        {
            "results": inline_serializer(
                "ScoredWord", {"word": serializers.CharField(), "score": serializers.FloatField()}, many=True
            ),
            "unknown_words": serializers.ListField(child=serializers.CharField()),
        },
    ),
)
@api_view(["GET"])
def search_words(request: Request) -> Response:
    """Nearest words in the active word space."""
    query = WordSearchSerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    try:
        results = modes.similar_words(query.validated_data["q"], k=query.validated_data["k"])
    except QueryError as exc:
        return error(str(exc))
    return Response(
        {
            "results": [{"word": word, "score": round(score, 4)} for word, score in results.words],
            "unknown_words": results.unknown_words,
        }
    )


@extend_schema(
    parameters=[inline_serializer("ClassQuery", {"q": serializers.CharField(required=False)})],
    responses=inline_serializer(
        "ClassMatch", {"index": serializers.IntegerField(), "label": serializers.CharField()}, many=True
    ),
)
@api_view(["GET"])
def imagenet_classes(request: Request) -> Response:
    """ImageNet classes whose name contains `q` (for the focus-on-an-object search)."""
    q = request.query_params.get("q", "")
    return Response([{"index": index, "label": label} for index, label in matching_classes(q, limit=50)])
