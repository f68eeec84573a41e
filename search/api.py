"""JSON API for the search modes.

Every search endpoint calls the same search.modes function as the pages. Domain errors (bad
image, duplicate, bad query) become JSON answers in `config.api_errors`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes, permission_classes, throttle_classes
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import ERROR
from catalog.models import Category
from catalog.selectors import images_visible_to
from ml.imagenet import NUM_CLASSES, matching_classes
from ml.images import open_query_photo, read_upload
from search import modes
from search.parsing import QueryError
from search.throttles import FocusSearchThrottle, PhotoSearchThrottle, SearchThrottle

# Errors: {"detail": message}; validation errors add their messages per field.
ERRORS = {400: ERROR, 429: ERROR}


class SearchFiltersSerializer(serializers.Serializer):
    k = serializers.IntegerField(required=False, min_value=1, default=24, help_text="Capped at SEARCH_MAX_K.")
    category = serializers.SlugField(required=False, help_text="Category slug")
    min_score = serializers.FloatField(required=False, min_value=-1, max_value=1)
    focus_class = serializers.IntegerField(
        required=False, min_value=0, max_value=NUM_CLASSES - 1, help_text="ImageNet class index"
    )

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
    score = serializers.FloatField(
        allow_null=True,
        help_text="What the results are ordered by: cosine similarity to the query (1 is identical); in hybrid "
        "word search, its weighted mean with the strength (0-1) of the text match.",
    )
    why = serializers.ListField(
        child=serializers.CharField(), help_text="The item's own tags, classes or words that matched the query."
    )
    text_match = serializers.BooleanField(help_text="Its title, category, description or confident tags matched.")
    matched = serializers.SerializerMethodField(help_text="Which sides found it: `meaning` (vectors), `text`.")
    thumbnail_url = serializers.SerializerMethodField()

    def get_matched(self, hit) -> list[str]:
        return [side for side, found in (("meaning", hit.vector_match), ("text", hit.text_match)) if found]

    def get_thumbnail_url(self, hit) -> str | None:
        thumbnail = hit.image.thumbnail
        return self.context["request"].build_absolute_uri(thumbnail.url) if thumbnail else None


class ImageResultsSerializer(serializers.Serializer):
    results = HitSerializer(source="hits", many=True)
    unknown_words = serializers.ListField(child=serializers.CharField())
    did_you_mean = serializers.CharField(allow_null=True, help_text="The query respelled, offered, not searched.")
    searched_for = serializers.CharField(
        allow_null=True, help_text="The respelled query that was searched instead of `q` (see `as_typed`)."
    )
    similarity = serializers.CharField(allow_null=True, help_text="How items were compared, for searches by image.")
    focus_class = serializers.IntegerField(allow_null=True)


def image_results_response(
    request: Request, search: Callable[[modes.Filters, int | None], modes.ImageResults]
) -> Response:
    params = SearchFiltersSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    results = search(params.filters(), params.validated_data.get("focus_class"))
    return Response(ImageResultsSerializer(results, context={"request": request}).data)


class WordQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=500, help_text="Words: `cat sofa`, `cat +sofa -dog`, `2:cat`.")


class ImageWordQuerySerializer(WordQuerySerializer):
    match = serializers.ChoiceField(
        choices=modes.Match.choices,
        default=modes.Match.HYBRID,
        help_text="hybrid: meaning and the items' own text, fused; semantic: vectors only; text: full-text only.",
    )
    as_typed = serializers.BooleanField(
        default=False, help_text="Search the words as typed: no respelling of words nothing spells so."
    )


@extend_schema(
    parameters=[ImageWordQuerySerializer, SearchFiltersSerializer], responses={200: ImageResultsSerializer, **ERRORS}
)
@api_view(["GET"])
@throttle_classes([SearchThrottle])
def search_images(request: Request) -> Response:
    """Images for words, even words no image was labelled with."""
    query = ImageWordQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    return image_results_response(
        request, lambda filters, _: modes.images_for_words(data["q"], filters, data["match"], as_typed=data["as_typed"])
    )


class SimilaritySerializer(serializers.Serializer):
    similarity = serializers.ChoiceField(
        choices=modes.Similarity.choices,
        default=modes.Similarity.BLEND,
        help_text="visual: looks like (CNN features); meaning: same kind of thing (WordNet); blend: both.",
    )


def similarity(request: Request) -> str:
    query = SimilaritySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data["similarity"]


@extend_schema(
    parameters=[SearchFiltersSerializer, SimilaritySerializer],
    request={"multipart/form-data": inline_serializer("PhotoUpload", {"file": serializers.FileField()})},
    responses={200: ImageResultsSerializer, 413: ERROR, 415: ERROR, **ERRORS},
)
@api_view(["POST"])
@permission_classes([AllowAny])  # visitors search by photo; nothing is stored
@throttle_classes([PhotoSearchThrottle, FocusSearchThrottle])  # each request runs the CNN
@parser_classes([MultiPartParser])
def search_by_photo(request: Request) -> Response:
    """Items similar to an uploaded photo (the photo is not stored)."""
    files = request.FILES.getlist("file")
    if len(files) != 1:
        raise QueryError("Send one photo as the multipart field `file`.")
    picture = open_query_photo(
        read_upload(files[0], max_bytes=settings.MAX_UPLOAD_BYTES),
        max_pixels=settings.PHOTO_SEARCH_MAX_PIXELS,
        concurrent=settings.PHOTO_DECODE_CONCURRENCY,
    )
    how = similarity(request)
    return image_results_response(
        request, lambda filters, focus: modes.similar_to_photo(picture, filters, focus_class=focus, similarity=how)
    )


@extend_schema(
    parameters=[SearchFiltersSerializer, SimilaritySerializer],
    responses={200: ImageResultsSerializer, 404: ERROR, **ERRORS},
)
@api_view(["GET"])
@throttle_classes([SearchThrottle, FocusSearchThrottle])
def similar_items(request: Request, pk: int) -> Response:
    """More like this: items similar to a catalogue item, optionally focused on one ImageNet class."""
    image = get_object_or_404(images_visible_to(request.user), pk=pk)
    how = similarity(request)
    return image_results_response(
        request, lambda filters, focus: modes.similar_items(image, filters, focus_class=focus, similarity=how)
    )


class WordSearchSerializer(WordQuerySerializer):
    k = serializers.IntegerField(required=False, min_value=1, default=10)


@extend_schema(
    parameters=[WordSearchSerializer],
    responses={
        200: inline_serializer(
            "SimilarWords",
            {
                "results": inline_serializer(
                    "ScoredWord", {"word": serializers.CharField(), "score": serializers.FloatField()}, many=True
                ),
                "unknown_words": serializers.ListField(child=serializers.CharField()),
            },
        ),
        **ERRORS,
    },
)
@api_view(["GET"])
@throttle_classes([SearchThrottle])
def search_words(request: Request) -> Response:
    """Nearest words in the active word space."""
    query = WordSearchSerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    results = modes.similar_words(query.validated_data["q"], k=query.validated_data["k"])
    return Response(
        {
            "results": [{"word": word, "score": round(score, 4)} for word, score in results.words],
            "unknown_words": results.unknown_words,
        }
    )


@extend_schema(
    parameters=[inline_serializer("ClassQuery", {"q": serializers.CharField(required=False, allow_blank=True)})],
    responses={
        200: inline_serializer(
            "ClassMatch", {"index": serializers.IntegerField(), "label": serializers.CharField()}, many=True
        ),
        400: ERROR,
    },
)
@api_view(["GET"])
def imagenet_classes(request: Request) -> Response:
    """ImageNet classes whose name contains `q` (for the focus-on-an-object search)."""
    q = request.query_params.get("q", "")
    return Response([{"index": index, "label": label} for index, label in matching_classes(q, limit=50)])
