"""Reads for search: every query is one SQL statement over pgvector."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from catalog.models import Image
from ml.conse import class_word_matrix
from ml.devise import load_weights
from search import vectors
from search.models import EmbeddingSpace, JointModel


def active_space(kind: str) -> EmbeddingSpace | None:
    return (
        EmbeddingSpace.objects.select_related("word_space")
        .filter(kind=kind, state=EmbeddingSpace.State.ACTIVE)
        .order_by("-created_at")
        .first()
    )


def _parse(text: str) -> np.ndarray:
    return np.asarray(text.strip("[]").split(","), dtype=np.float32)


def word_vectors(space_id: int, words: Iterable[str]) -> dict[str, np.ndarray]:
    """Vectors of the given words that the space knows."""
    wanted = sorted(set(words))
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT word, embedding::text FROM search_word WHERE space_id = %s AND word = ANY(%s)",
            [space_id, wanted],
        )
        return {word: _parse(text) for word, text in cursor.fetchall()}


@lru_cache(maxsize=4)
def _class_vectors(word_space_id: int, dims: int) -> np.ndarray:
    return class_word_matrix(lambda words: word_vectors(word_space_id, words), dims)


def class_vectors(word_space: EmbeddingSpace) -> np.ndarray:
    """Word vectors of the 1000 ImageNet class names in a word space (read once per process)."""
    return _class_vectors(word_space.pk, word_space.dims)


def trained_models(image_space: EmbeddingSpace, word_space: EmbeddingSpace) -> list[JointModel]:
    """Trained heads over `image_space`'s features into `word_space` whose weights are stored:
    new items get a vector in each of their spaces (filling, active, or kept for a rollback)."""
    return list(
        JointModel.objects.select_related("space")
        .filter(image_space=image_space, space__word_space=word_space)
        .exclude(weights="")
        .exclude(state=JointModel.State.FAILED)
    )


@lru_cache(maxsize=8)
def _head_weights(name: str) -> dict[str, np.ndarray]:
    with JointModel._meta.get_field("weights").storage.open(name, "rb") as handle:
        return load_weights(handle.read())


def head_weights(model: JointModel) -> dict[str, np.ndarray]:
    """A trained head's weights (read from storage once per process; files are never rewritten)."""
    return _head_weights(model.weights.name)


@contextmanager
def vector_cursor() -> Iterator[CursorWrapper]:
    """A cursor in a short transaction with pgvector's search options set for it alone."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Filtered HNSW scans would otherwise stop at ef_search candidates and return fewer than k.
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(settings.HNSW_EF_SEARCH)}")
        yield cursor


def nearest_words(
    space: EmbeddingSpace,
    vector: np.ndarray,
    *,
    k: int = 10,
    tags_only: bool = False,
    exclude: Iterable[str] = (),
) -> list[tuple[str, float]]:
    """Nearest words by cosine similarity, best first."""
    excluded = list(exclude)
    expression = vectors.typed(space)
    query = vectors.typed_param(space)
    sql = (
        f"SELECT word, 1 - ({expression} <=> {query}) AS score FROM search_word "
        f"WHERE space_id = %s {'AND is_tag' if tags_only else ''} AND NOT (word = ANY(%s)) "
        f"ORDER BY {expression} <=> {query} LIMIT %s"
    )
    literal = vectors.literal(vector)
    with vector_cursor() as cursor:
        cursor.execute(sql, [literal, space.pk, excluded, literal, k])
        rows = cursor.fetchall()
    return [(word, float(score)) for word, score in rows]


@dataclass
class Hit:
    image: Image
    score: float  # cosine similarity, 1 is identical
    why: list[str] = field(default_factory=list)  # the item's tags nearest to the query


def _distance(space: EmbeddingSpace, weights: np.ndarray | None) -> tuple[str, list]:
    """The distance expression (as in the space's index, so PostgreSQL can use it) and its params."""
    if weights is not None:
        # Class-focused similarity: both sides reweighted elementwise; exact, no index.
        cast = f"::vector({space.dims})"
        return f"(((e.embedding{cast}) * %s{cast}) <=> %s{cast})", [vectors.literal(weights)]
    return f"({vectors.typed(space, 'e.embedding')} <=> {vectors.typed_param(space)})", []


def nearest_images_sql(
    space: EmbeddingSpace,
    query: np.ndarray,
    *,
    k: int,
    category_id: int | None = None,
    exclude_id: int | None = None,
    min_score: float | None = None,
    weights: np.ndarray | None = None,
) -> tuple[str, list]:
    """The SQL (and its parameters) of `nearest_images`: (image id, score) rows, best first."""
    filters, filter_params = ["e.space_id = %s", "i.status = 'ready'"], [space.pk]
    if category_id is not None:
        filters.append("i.category_id = %s")
        filter_params.append(category_id)
    if exclude_id is not None:
        filters.append("e.image_id <> %s")
        filter_params.append(exclude_id)
    query_vector = query * weights if weights is not None else query
    distance, distance_params = _distance(space, weights)
    distance_params = [*distance_params, vectors.literal(query_vector)]
    if min_score is not None:
        filters.append(f"{distance} <= %s")
        filter_params += [*distance_params, 1.0 - min_score]
    where = " AND ".join(filters)
    source = "search_imageembedding e JOIN catalog_image i ON i.id = e.image_id"
    if vectors.uses_binary_index(space) and weights is None:
        # Too many dims for an HNSW float index: candidates by Hamming distance, exact re-rank.
        bits = f"binary_quantize(%s::vector({space.dims}))::bit({space.dims})"
        sql = (
            f"SELECT image_id, 1 - distance FROM ("
            f" SELECT e.image_id, {distance} AS distance FROM {source} WHERE {where}"
            f" ORDER BY {vectors.binary_expression(space, 'e.embedding')} <~> {bits} LIMIT %s"
            f") candidates ORDER BY distance LIMIT %s"
        )
        return sql, [*distance_params, *filter_params, vectors.literal(query_vector), k * 20, k]
    sql = f"SELECT e.image_id, 1 - {distance} FROM {source} WHERE {where} ORDER BY {distance} LIMIT %s"
    return sql, [*distance_params, *filter_params, *distance_params, k]


def nearest_images(space: EmbeddingSpace, query: np.ndarray, *, k: int, **filters) -> list[Hit]:
    """Ready items nearest to `query` in `space`, with all filters in the same SQL query
    (keyword arguments as for `nearest_images_sql`)."""
    sql, params = nearest_images_sql(space, query, k=k, **filters)
    with vector_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    images = Image.objects.select_related("category").in_bulk([image_id for image_id, _ in rows])
    return [Hit(image=images[image_id], score=float(score)) for image_id, score in rows if image_id in images]


def explain_hits(hits: list[Hit], word_space: EmbeddingSpace, query: np.ndarray | None, *, n: int = 3) -> None:
    """Fill each hit's `why`: its own tags nearest to the query's word-space vector."""
    if query is None or not hits:
        return
    tag_vectors = word_vectors(word_space.pk, {tag["word"] for hit in hits for tag in hit.image.tags})
    unit_query = query / (np.linalg.norm(query) or 1.0)
    similarity = {word: float(v @ unit_query / (np.linalg.norm(v) or 1.0)) for word, v in tag_vectors.items()}
    for hit in hits:
        words = [tag["word"] for tag in hit.image.tags if tag["word"] in similarity]
        hit.why = sorted(words, key=similarity.__getitem__, reverse=True)[:n]
