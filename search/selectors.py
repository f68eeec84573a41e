"""Reads for the search pages besides ranking: spelling help, completions, similar words, and
why each hit matched."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

import numpy as np

from ml.spelling import corrections, picture_names, priority_words
from ml.spelling import suggestions as word_suggestions
from ml.vectors import unit_rows
from ml.words import STOP_WORDS
from search.ranking import Hit
from spaces import selectors as spaces_selectors
from spaces import vector_sql
from spaces.models import EmbeddingSpace

# The catalogue's words change as items arrive: each process rereads them this often.
KNOWN_WORDS_SECONDS = 300
CATALOGUE_SAMPLE = 20_000  # the most recent ready items whose titles and tags are read
_known: dict[tuple[int, int], tuple[float, list[str]]] = {}


def _catalogue_words() -> list[str]:
    """The words people and the classifier used in the catalogue, most used first: category
    names and label words (weighted by their items), titles and confident tags of recent items."""
    with vector_sql.read_cursor() as cursor:
        cursor.execute(
            "SELECT word, sum(n) FROM ("
            " SELECT regexp_split_to_table(lower(c.name || ' ' || c.label_words), '[^[:alpha:]]+') AS word,"
            "  count(*) AS n FROM catalog_category c JOIN catalog_image i ON i.category_id = c.id"
            "  WHERE i.status = 'ready' GROUP BY c.id"
            " UNION ALL SELECT regexp_split_to_table(lower(r.title || ' ' || coalesce(string_agg(t.word, ' '), '')),"
            "  '[^[:alpha:]]+'), 1 FROM (SELECT id, title, tags FROM catalog_image WHERE status = 'ready'"
            "  ORDER BY id DESC LIMIT %s) r LEFT JOIN LATERAL jsonb_to_recordset(r.tags) AS t(word text, score float)"
            "  ON t.score >= 0.5 GROUP BY r.id, r.title"
            ") words WHERE length(word) > 1 GROUP BY word ORDER BY sum(n) DESC, word",
            [CATALOGUE_SAMPLE],
        )
        return [word for word, _ in cursor.fetchall()]


def known_words(word_space: EmbeddingSpace) -> list[str]:
    """Every word spelling help and suggestions know, in priority order: the catalogue's own,
    then the vocabulary's words that name what photos show (dog, sofa), then the rest of the
    vocabulary by frequency (`ml.spelling.priority_words`). Kept per process for a while."""
    key = (word_space.pk, word_space.version)
    cached = _known.get(key)
    if cached is None or time.monotonic() - cached[0] > KNOWN_WORDS_SECONDS:
        vocabulary = spaces_selectors.vocabulary_words(word_space)
        cached = _known[key] = (time.monotonic(), priority_words(_catalogue_words(), vocabulary, picture_names()))
    return cached[1]


def respelled(word_space: EmbeddingSpace, text: str, unfamiliar: list[str]) -> str | None:
    """The query with each unfamiliar word replaced by its likeliest known word (fewest edits,
    then the more common word: `ml.spelling.corrections`), its weights and signs kept; None
    when no word is close to one."""
    # Stop words ("in", "the") are in no vocabulary of tag words, yet nobody misspelled them.
    candidates = [word for word in unfamiliar if word not in STOP_WORDS and word.isalpha()][:10]
    known = known_words(word_space) if candidates else []
    replacements = {word: found[0] for word in candidates if (found := corrections(word, known, k=1))}
    if not replacements:
        return None
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, replacements)) + r")\b", re.IGNORECASE)
    return pattern.sub(lambda match: replacements[match.group(0).lower()], text.strip())


def suggestions(word_space: EmbeddingSpace | None, prefix: str, *, limit: int = 8) -> list[str]:
    """Completions for the search box: categories (most items first), item titles, then known
    words by priority (the catalogue's first: "do" -> dog, "sof" -> sofa)."""
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
        found += word_suggestions(prefix, known_words(word_space), k=limit)
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


# A tag is a reason for a hit when it is this close to the query (sentence space: "dog" and
# "puppy" 0.80, "terrier" 0.67, "sorrel" to "horse" 0.21, "children playing in the snow" to "ski" 0.35).
REASON_SIMILARITY = 0.45
_WORD = re.compile(r"[^\W\d_]+")


def _same_word(a: str, b: str) -> bool:
    """One word, give or take a plural ("sofa", "Sofas")."""
    return a == b or a.rstrip("s") == b.rstrip("s") or a.removesuffix("es") == b.removesuffix("es")


def explain_hits(
    hits: list[Hit], word_space: EmbeddingSpace, query: np.ndarray | None, words: Iterable[str] = (), *, n: int = 3
) -> None:
    """Fill each hit's `why` with what of its own matched the query: the query's words found in its
    title, category or description, then its tags closest to the query (at least
    REASON_SIMILARITY). A hit nothing of its own explains gets no reason rather than a guess."""
    tags = {tag["word"] for hit in hits for tag in hit.image.tags}
    vectors = spaces_selectors.text_vectors(word_space, tags) if query is not None and tags else {}
    unit_query = unit_rows(query) if query is not None else None
    similarity = {tag: float(unit_rows(vector) @ unit_query) for tag, vector in vectors.items()}
    for hit in hits:
        own = _WORD.findall(f"{hit.image.title} {hit.image.category.name} {hit.image.description}".lower())
        text = [w for w in dict.fromkeys(words) if w not in STOP_WORDS and any(_same_word(w, o) for o in own)]
        close = [tag["word"] for tag in hit.image.tags if similarity.get(tag["word"], -1) >= REASON_SIMILARITY]
        close.sort(key=similarity.__getitem__, reverse=True)
        hit.why = list(dict.fromkeys([*text, *close]))[:n]
