"""Reads for the search pages besides ranking: spelling help, completions, similar words, and
why each hit matched."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ml.vectors import unit_rows
from search.ranking import Hit
from spaces import selectors, vector_sql
from spaces.models import EmbeddingSpace


def spelling_suggestion(word_space: EmbeddingSpace, words: list[str], unknown: list[str]) -> str | None:
    """The query with each unknown word replaced by the closest tag-vocabulary word, or None if
    none is close: candidates share trigrams (indexed), the fewest edits win, then the most
    frequent word (words are stored in frequency order)."""
    replacements = {}
    with vector_sql.read_cursor() as cursor:
        for word in unknown[:10]:
            cursor.execute(
                "SELECT word FROM spaces_word WHERE space_id = %s AND is_tag AND word %% %s"
                " ORDER BY levenshtein(word, %s), similarity(word, %s) DESC, id LIMIT 1",
                [word_space.pk, word, word, word],
            )
            row = cursor.fetchone()
            if row:
                replacements[word] = row[0]
    if not replacements:
        return None
    return " ".join(replacements.get(word, word) for word in words)


def suggestions(word_space: EmbeddingSpace | None, prefix: str, *, limit: int = 8) -> list[str]:
    """Completions for the search box: categories (most items first), item titles, then
    vocabulary words (most frequent first: words are stored in their file's frequency order)."""
    prefix = prefix.strip().lower()
    if len(prefix) < 2:
        return []
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found: list[str] = []
    with vector_sql.read_cursor() as cursor:
        cursor.execute(
            "SELECT c.name FROM catalog_category c JOIN catalog_image i ON i.category_id = c.id"
            " WHERE i.status = 'ready' AND lower(c.name) LIKE %s GROUP BY c.name ORDER BY count(*) DESC LIMIT %s",
            [like, limit],
        )
        found += [name for (name,) in cursor.fetchall()]
        cursor.execute(
            "SELECT DISTINCT title FROM catalog_image WHERE status = 'ready' AND lower(title) LIKE %s"
            " ORDER BY title LIMIT %s",
            [like, limit],
        )
        found += [title for (title,) in cursor.fetchall()]
        if word_space is not None:
            cursor.execute(
                "SELECT word FROM spaces_word WHERE space_id = %s AND is_tag AND word LIKE %s ORDER BY id LIMIT %s",
                [word_space.pk, like, limit],
            )
            found += [word for (word,) in cursor.fetchall()]
    unique = list(dict.fromkeys(item for item in found if item.lower() != prefix))
    return unique[:limit]


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
    expression = vector_sql.typed(space)
    query = vector_sql.typed_param(space)
    sql = (
        f"SELECT word, 1 - ({expression} <=> {query}) AS score FROM spaces_word "
        f"WHERE space_id = %s {'AND is_tag' if tags_only else ''} AND NOT (word = ANY(%s)) "
        f"ORDER BY {expression} <=> {query} LIMIT %s"
    )
    literal = vector_sql.literal(vector)
    with vector_sql.read_cursor() as cursor:
        cursor.execute(sql, [literal, space.pk, excluded, literal, k])
        rows = cursor.fetchall()
    return [(word, float(score)) for word, score in rows]


def explain_hits(hits: list[Hit], word_space: EmbeddingSpace, query: np.ndarray | None, *, n: int = 3) -> None:
    """Fill each hit's `why`: its own tags nearest to the query's word-space vector."""
    if query is None or not hits:
        return
    tag_vectors = selectors.text_vectors(word_space, {tag["word"] for hit in hits for tag in hit.image.tags})
    unit_query = unit_rows(query)
    similarity = {word: float(unit_rows(v) @ unit_query) for word, v in tag_vectors.items()}
    for hit in hits:
        words = [tag["word"] for tag in hit.image.tags if tag["word"] in similarity]
        hit.why = sorted(words, key=similarity.__getitem__, reverse=True)[:n]
