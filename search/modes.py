"""The search modes, one function each, shared by the pages and the JSON API.

Each turns its input into a query vector (search.query_vectors) and runs one SQL query over
pgvector (search.ranking), with the filters in the same query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import models
from PIL import Image as PILImage

from catalog.models import Category, Image
from ml import familiarity
from ml.imagenet import CLASS_NAMES
from search import query_vectors, ranking, selectors
from search.parsing import QueryError, has_syntax
from spaces import selectors as spaces
from spaces.models import EmbeddingSpace

Kind = EmbeddingSpace.Kind


@dataclass
class Filters:
    k: int = 24
    category: Category | None = None
    min_score: float | None = None
    offset: int = 0  # results skipped: the pages before this one
    lookahead: int = 0  # results counted after this page, so a pager can number the next pages

    def __post_init__(self) -> None:
        self.k = max(1, min(int(self.k), settings.SEARCH_MAX_K))
        self.offset = max(0, min(int(self.offset), settings.SEARCH_MAX_DEPTH - self.k))

    @property
    def limit(self) -> int:
        """How many ranked results to fetch: this page, those before it and the look-ahead."""
        return min(self.offset + self.k + self.lookahead, settings.SEARCH_MAX_DEPTH)

    def page_of(self, hits: list) -> tuple[list, int]:
        """This page's hits and how many ranked results follow it (up to the look-ahead)."""
        return hits[self.offset : self.offset + self.k], max(0, len(hits) - self.offset - self.k)

    @property
    def category_id(self) -> int | None:
        return self.category.pk if self.category else None


@dataclass
class ImageResults:
    hits: list[ranking.Hit]
    unknown_words: list[str] = field(default_factory=list)
    focus_class: int | None = None
    did_you_mean: str | None = None  # the query respelled, offered as a link
    searched_for: str | None = None  # the query respelled and searched instead of the words typed
    similarity: str | None = None  # how items were compared (searches by image)
    following: int = 0  # ranked results after these, up to the filters' look-ahead

    @property
    def focus_label(self) -> str | None:
        return None if self.focus_class is None else CLASS_NAMES[self.focus_class]


def _active_spaces(required: str) -> dict[str, EmbeddingSpace]:
    """The active space of each kind (cached a few seconds per process: `serving_spaces`);
    QueryError without one of kind `required`."""
    active = spaces.serving_spaces()
    if required not in active:
        raise QueryError("Search is not ready yet: no image has been processed.")
    return active


# "Same kind of thing" ranks by meaning; a fifth of visual similarity orders what the meaning space
# cannot tell apart, so a flipped, cropped copy still finds its original first even where the copy
# changes the classifier's mind (a cliff dwelling's copy: meaning 0.65 to its original, 0.75 to a
# langur photo; visual 0.88 and 0.15).
MEANING_MODE_SHARE = 0.8


class Similarity(models.TextChoices):
    BLEND = "blend", "Both"
    VISUAL = "visual", "Looks like"
    MEANING = "meaning", "Same kind of thing"


def _images_like(
    active: dict[str, EmbeddingSpace],
    query: query_vectors.ImageQuery,
    filters: Filters,
    focus_class: int | None,
    similarity: str,
    *,
    exclude_id: int | None = None,
) -> ImageResults:
    """Items like a query image: by its CNN features (looks like), by its WordNet meaning (same
    kind of thing), or both blended. A focus class reweights the features by its classifier
    weights and replaces the meaning by the class's own."""
    image_space, meaning_space, joint_space = active[Kind.IMAGE], active.get(Kind.MEANING), active.get(Kind.JOINT)
    if query.meaning is None or meaning_space is None:
        similarity = Similarity.VISUAL  # not embedded in the meaning space yet (see `reembed`)
    meaning_share = {Similarity.VISUAL: 0.0, Similarity.MEANING: MEANING_MODE_SHARE}.get(
        similarity, settings.BLEND_MEANING_WEIGHT
    )
    focus = query_vectors.focus(image_space, focus_class) if focus_class is not None else None
    sides = []
    if meaning_share < 1:
        weights = focus.weights if focus is not None else None
        sides.append(ranking.Side(image_space, query.features, 1 - meaning_share, weights))
    if meaning_share > 0:
        meaning = focus.meaning if focus is not None else query.meaning
        sides.append(ranking.Side(meaning_space, meaning, meaning_share))
    filter_args = {"category_id": filters.category_id, "exclude_id": exclude_id, "min_score": filters.min_score}
    hits, following = filters.page_of(ranking.images_by_vectors(sides, k=filters.limit, **filter_args))
    if joint_space is not None:
        selectors.explain_hits(hits, joint_space.word_space, query.joint)
    return ImageResults(hits=hits, focus_class=focus_class, similarity=similarity, following=following)


def similar_items(
    image: Image, filters: Filters, *, focus_class: int | None = None, similarity: str = Similarity.BLEND
) -> ImageResults:
    """More like this: items nearest to a catalogue item's stored vectors."""
    active = _active_spaces(Kind.IMAGE)
    query = query_vectors.item_query(image.pk, active[Kind.IMAGE], active.get(Kind.MEANING), active.get(Kind.JOINT))
    return _images_like(active, query, filters, focus_class, similarity, exclude_id=image.pk)


def similar_to_photo(
    picture: PILImage.Image, filters: Filters, *, focus_class: int | None = None, similarity: str = Similarity.BLEND
) -> ImageResults:
    """Search by photo: the photo runs through the encoder in the request and is not stored."""
    active = _active_spaces(Kind.IMAGE)
    query = query_vectors.photo_query(picture, active[Kind.IMAGE], active.get(Kind.JOINT))
    return _images_like(active, query, filters, focus_class, similarity)


class Match(models.TextChoices):
    HYBRID = "hybrid", "Meaning and text"
    SEMANTIC = "semantic", "Meaning only"
    TEXT = "text", "Text only"


def _word_sides(
    joint: EmbeddingSpace, meaning_space: EmbeddingSpace | None, query: query_vectors.WordQuery
) -> list[ranking.Side]:
    """The vector side of a word search: the word-space vector in the joint space, blended with
    the meaning-space vector when some words name WordNet synsets ("sheep" finds a ram, which
    GloVe places nowhere near it; the sentence space needs no such help)."""
    weight = spaces.word_meaning_weight(joint.word_space)
    meaning_space = meaning_space if query.meaning is not None and weight > 0 else None
    sides = []
    if query.vector is not None:
        share = 1 - weight if meaning_space is not None else 1.0
        sides += _trained_and_zero_shot(joint, query, share)
    if meaning_space is not None:
        share = weight if query.vector is not None else 1.0
        sides.append(ranking.Side(meaning_space, query.meaning, share))
    return sides


def _trained_and_zero_shot(joint: EmbeddingSpace, query: query_vectors.WordQuery, share: float) -> list[ranking.Side]:
    """A space trained on the items' texts knows the words they used: it gets a share of the query
    that grows with how many items used its words, the zero-shot space the rest (words no
    description used still find what the zero-shot space finds)."""
    partner = spaces.zero_shot_partner(joint)
    if partner is None:
        return [ranking.Side(joint, query.vector, share)]
    trained = familiarity.trained_share(
        " ".join(query.words), partner.word_counts, minimum=familiarity.minimum_items(partner.trained_items)
    )
    return [
        ranking.Side(space, query.vector, part * share)
        for space, part in ((joint, trained), (partner.space, 1 - trained))
        if part > 0
    ]


def images_for_words(text: str, filters: Filters, match: str = Match.HYBRID, *, as_typed: bool = False) -> ImageResults:
    """Words to images: by meaning (the active joint space, zero-shot ConSE or a trained head,
    with WordNet's meaning of the words that name synsets in a GloVe space), by the items' own
    text (titles, categories, descriptions, confident tags), or both. A word nothing in the
    catalogue or the vocabulary spells is respelled and the respelled words are searched
    ("showing results for dog"), unless `as_typed`."""
    active = _active_spaces(Kind.JOINT)
    joint = active[Kind.JOINT]
    query = query_vectors.word_query(text, joint.word_space)
    respelled = selectors.respelled(joint.word_space, text, query.unfamiliar_words)
    # With weights or signs ("2:cat -dog") the visitor chose the words: offered a respelling, not given one.
    searched = respelled if respelled and not as_typed and not has_syntax(text) else None
    if searched:
        query = query_vectors.word_query(searched, joint.word_space)
    sides = _word_sides(joint, active.get(Kind.MEANING), query) if match != Match.TEXT else []
    lexical = ranking.text_query(query.terms) if match != Match.SEMANTIC else None
    filter_args = {"category_id": filters.category_id, "min_score": filters.min_score}
    if match == Match.SEMANTIC:
        hits = ranking.images_by_vectors(sides, k=filters.limit, **filter_args)
    else:
        hits = ranking.images_for_text_and_vector(sides, lexical, k=filters.limit, **filter_args)
    hits, following = filters.page_of(hits)
    selectors.explain_hits(hits, joint.word_space, query.vector, [t.word for t in query.terms if t.weight > 0])
    return ImageResults(
        hits=hits,
        following=following,
        unknown_words=query.unknown_words,
        did_you_mean=None if searched else respelled,
        searched_for=searched,
    )


@dataclass
class WordResults:
    words: list[tuple[str, float]]
    unknown_words: list[str]


def similar_words(text: str, *, k: int = 10) -> WordResults:
    """Nearest words to a word (or a weighted word combination), with cosine scores."""
    word_space = _active_spaces(Kind.WORD)[Kind.WORD]
    query = query_vectors.word_query(text, word_space)
    if query.vector is None:
        return WordResults(words=[], unknown_words=query.unknown_words)
    k = max(1, min(k, settings.SEARCH_MAX_K))
    words = selectors.nearest_words(word_space, query.vector, k=k, exclude=query.words)
    return WordResults(words=words, unknown_words=query.unknown_words)
