"""Reads for search: every query is one SQL statement over pgvector."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from search import vectors
from search.models import EmbeddingSpace


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
