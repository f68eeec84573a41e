"""Reads for search: every query is one SQL statement over pgvector, on the replica that the
request reads from (config/db_router.py) or the primary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from django.conf import settings

from catalog.models import Image
from config.db_router import read_connection
from ml.conse import class_word_matrix
from ml.devise import load_weights, unit_rows
from search import vectors
from search.models import EmbeddingSpace, JointModel


def active_space(kind: str) -> EmbeddingSpace | None:
    return (
        EmbeddingSpace.objects.select_related("word_space")
        .filter(kind=kind, state=EmbeddingSpace.State.ACTIVE)
        .order_by("-created_at")
        .first()
    )


def active_spaces() -> dict[str, EmbeddingSpace]:
    """The active space of each kind, in one query (searches read two or three of them)."""
    spaces = EmbeddingSpace.objects.select_related("word_space").filter(state=EmbeddingSpace.State.ACTIVE)
    return {space.kind: space for space in spaces}


def _parse(text: str) -> np.ndarray:
    return np.asarray(text.strip("[]").split(","), dtype=np.float32)


# Word vectors read before, by (space id, word); None for a word the space lacks. A word space's
# rows never change once imported, so entries never go stale; searches look up the same few
# thousand tag words again and again ("why" each hit matched). Bounded: cleared when full.
_word_cache: dict[tuple[int, str], np.ndarray | None] = {}
WORD_CACHE_SIZE = 50_000


def word_vectors(space_id: int, words: Iterable[str]) -> dict[str, np.ndarray]:
    """Vectors of the given words that the space knows."""
    wanted = sorted(set(words))
    cached = {word: _word_cache[(space_id, word)] for word in wanted if (space_id, word) in _word_cache}
    missing = [word for word in wanted if word not in cached]
    if missing:
        with read_connection().cursor() as cursor:
            cursor.execute(
                "SELECT word, embedding::text FROM search_word WHERE space_id = %s AND word = ANY(%s)",
                [space_id, missing],
            )
            found = {word: _parse(text) for word, text in cursor.fetchall()}
        if len(_word_cache) + len(missing) > WORD_CACHE_SIZE:
            _word_cache.clear()
        for word in missing:
            cached[word] = _word_cache[(space_id, word)] = found.get(word)
    return {word: vector for word, vector in cached.items() if vector is not None}


@lru_cache(maxsize=4)
def _class_vectors(word_space_id: int, dims: int) -> np.ndarray:
    return class_word_matrix(lambda words: word_vectors(word_space_id, words), dims)


def class_vectors(word_space: EmbeddingSpace) -> np.ndarray:
    """Word vectors of the 1000 ImageNet class names in a word space (read once per process)."""
    return _class_vectors(word_space.pk, word_space.dims)


@lru_cache(maxsize=2)
def _tag_vocabulary(word_space_id: int) -> tuple[list[str], np.ndarray]:
    with read_connection().cursor() as cursor:
        cursor.execute(
            "SELECT word, embedding::text FROM search_word WHERE space_id = %s AND is_tag ORDER BY id", [word_space_id]
        )
        rows = cursor.fetchall()
    vectors = np.array([_parse(text) for _, text in rows], dtype=np.float32).reshape(len(rows), -1)
    return [word for word, _ in rows], unit_rows(vectors)


def tag_vocabulary(word_space: EmbeddingSpace) -> tuple[list[str], np.ndarray]:
    """The tag words of a word space and their unit vectors (read once per process: 50k words
    are 10 MB, and a worker compares every image with all of them)."""
    return _tag_vocabulary(word_space.pk)


def nearest_tags(
    word_space: EmbeddingSpace, vector: np.ndarray, *, k: int, exclude: set[str]
) -> list[tuple[str, float]]:
    """The k tag words nearest `vector` by cosine, exactly, in memory: the worker's tags (an
    index query per image cost ~5 ms of the ~50 ms an image takes end to end)."""
    words, unit = tag_vocabulary(word_space)
    scores = unit @ (vector / (np.linalg.norm(vector) or 1.0))
    wanted = min(len(words), k + len(exclude))
    top = np.argpartition(-scores, wanted - 1)[:wanted] if wanted else np.array([], dtype=int)
    ranked = [(words[i], float(scores[i])) for i in top[np.argsort(-scores[top], kind="stable")]]
    return [(word, score) for word, score in ranked if word not in exclude][:k]


def spelling_suggestion(word_space: EmbeddingSpace, words: list[str], unknown: list[str]) -> str | None:
    """The query with each unknown word replaced by the closest tag-vocabulary word, or None if
    none is close: candidates share trigrams (indexed), the fewest edits win, then the most
    frequent word (words are stored in frequency order)."""
    replacements = {}
    with read_connection().cursor() as cursor:
        for word in unknown[:10]:
            cursor.execute(
                "SELECT word FROM search_word WHERE space_id = %s AND is_tag AND word %% %s"
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
    with read_connection().cursor() as cursor:
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
                "SELECT word FROM search_word WHERE space_id = %s AND is_tag AND word LIKE %s ORDER BY id LIMIT %s",
                [word_space.pk, like, limit],
            )
            found += [word for (word,) in cursor.fetchall()]
    unique = list(dict.fromkeys(item for item in found if item.lower() != prefix))
    return unique[:limit]


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
    with read_connection().cursor() as cursor:
        cursor.execute(sql, [literal, space.pk, excluded, literal, k])
        rows = cursor.fetchall()
    return [(word, float(score)) for word, score in rows]


@dataclass
class Hit:
    image: Image
    score: float | None  # cosine similarity, 1 is identical (None: found by text alone, no vector)
    why: list[str] = field(default_factory=list)  # the item's tags nearest to the query
    text_match: bool = False  # its title, category, description or tags matched the words


def _distance(space: EmbeddingSpace, weights: np.ndarray | None, column: str = "e.embedding") -> tuple[str, list]:
    """The distance expression (as in the space's index, so PostgreSQL can use it) and its params,
    less the query vector's, which comes last."""
    if weights is not None:
        # Class-focused similarity: both sides reweighted elementwise (exact; candidates come
        # from the plain index, see `nearest_images_sql`).
        cast = f"::vector({space.dims})"
        return f"((({column}{cast}) * %s{cast}) <=> %s{cast})", [vectors.literal(weights)]
    return f"({vectors.typed(space, column)} <=> {vectors.typed_param(space)})", []


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
    exact_focus = weights is not None and settings.FOCUS_CANDIDATES <= 0
    if exact_focus or (weights is None and not vectors.uses_binary_index(space)):
        sql = f"SELECT e.image_id, 1 - {distance} AS score FROM {source} WHERE {where} ORDER BY {distance} LIMIT %s"
        return sql, [*distance_params, *filter_params, *distance_params, k]
    # Two steps: candidates from the space's index, then the exact distance re-ranks them.
    if weights is None:
        # Too many dims for an HNSW float index: candidates by Hamming distance of sign bits.
        candidate_query, limit = query, k * 20
    else:
        # Focus: (x*w).(q*w) = x.(q*w*w), so the plain index queried with q*w*w ranks by the
        # focused similarity's numerator; only each item's norm after reweighting differs.
        candidate_query, limit = query * weights * weights, max(k, settings.FOCUS_CANDIDATES)
    if vectors.uses_binary_index(space):
        bits = f"binary_quantize(%s::vector({space.dims}))::bit({space.dims})"
        order = f"{vectors.binary_expression(space, 'e.embedding')} <~> {bits}"
    else:
        order = f"{vectors.typed(space, 'e.embedding')} <=> {vectors.typed_param(space)}"
    sql = (
        f"SELECT image_id, 1 - distance AS score FROM ("
        f" SELECT e.image_id, {distance} AS distance FROM {source} WHERE {where}"
        f" ORDER BY {order} LIMIT %s"
        f") candidates ORDER BY distance LIMIT %s"
    )
    return sql, [*distance_params, *filter_params, vectors.literal(candidate_query), limit, k]


def _hits(sql: str, params: list) -> list[Hit]:
    """Run a query of (image id, score[, text match]) rows and load their items, in order."""
    with read_connection().cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # What a result card shows (templates/search/_results.html, the API's HitSerializer): loading
    # whole rows (the full-text document, classes) took twice as long.
    shown = ("title", "thumbnail", "original", "tags", "category__name")
    images = Image.objects.select_related("category").only(*shown).in_bulk([row[0] for row in rows])
    return [
        Hit(
            image=images[row[0]],
            score=None if row[1] is None else float(row[1]),
            text_match=bool(row[2]) if len(row) > 2 else False,
        )
        for row in rows
        if row[0] in images
    ]


def nearest_images(space: EmbeddingSpace, query: np.ndarray, *, k: int, **filters) -> list[Hit]:
    """Ready items nearest to `query` in `space`, with all filters in the same SQL query
    (keyword arguments as for `nearest_images_sql`)."""
    return _hits(*nearest_images_sql(space, query, k=k, **filters))


@dataclass(frozen=True)
class Side:
    """One space's part of a blended similarity: its query vector, focus weights and share."""

    space: EmbeddingSpace
    query: np.ndarray
    share: float
    weights: np.ndarray | None = None


def _side_scores(sides: list[Side], source: str) -> tuple[str, list, str, list]:
    """The share-weighted sum of `source`.image_id's cosine similarities over `sides`: the score
    expression and its params, then the joins that compute each side's distance and theirs.

    Each side's distance comes from a LATERAL lookup of that one item's vector (the unique index
    on image and space): a plain join let the planner hash all of a space's vectors, 93 ms for
    "more like this" at 100k items. An item without a vector in some space (not embedded there
    yet, or the spaces come from two encoders during a switch) scores 0 on that side instead of
    vanishing; NULL when it has none.
    """
    scores, score_params, joins, join_params = [], [], [], []
    for n, side in enumerate(sides):
        distance, distance_params = _distance(side.space, side.weights, "e.embedding")
        query = side.query * side.weights if side.weights is not None else side.query
        joins.append(
            f"LEFT JOIN LATERAL (SELECT {distance} AS distance FROM search_imageembedding e"
            f" WHERE e.image_id = {source}.image_id AND e.space_id = %s) d{n} ON true"
        )
        join_params += [*distance_params, vectors.literal(query), side.space.pk]
        scores.append(f"coalesce(%s * (1 - d{n}.distance), 0)")
        score_params.append(side.share)
    missing = " AND ".join(f"d{n}.distance IS NULL" for n in range(len(sides)))
    score = f"CASE WHEN {missing} THEN NULL ELSE {' + '.join(scores)} END"
    return score, score_params, " ".join(joins), join_params


def blended_images_sql(
    sides: list[Side],
    *,
    k: int,
    category_id: int | None = None,
    exclude_id: int | None = None,
    min_score: float | None = None,
) -> tuple[str, list]:
    """(image id, score) rows ranked by the share-weighted sum of the cosine similarities in
    several spaces: each space's index gives candidates, the union is re-ranked exactly."""
    candidates = max(4 * k, 50)
    ctes, params = [], []
    for n, side in enumerate(sides):
        sql, side_params = nearest_images_sql(
            side.space, side.query, k=candidates, category_id=category_id, exclude_id=exclude_id, weights=side.weights
        )
        ctes.append(f"side{n} AS ({sql})")
        params += side_params
    union = " UNION ".join(f"SELECT image_id FROM side{n}" for n in range(len(sides)))
    score, score_params, joins, join_params = _side_scores(sides, "c")
    floor, floor_params = ("WHERE score >= %s", [min_score]) if min_score is not None else ("", [])
    sql = (
        f"WITH {', '.join(ctes)}, candidates AS ({union})"
        f" SELECT image_id, score FROM (SELECT c.image_id, {score} AS score FROM candidates c {joins}) scored"
        f" {floor} ORDER BY score DESC, image_id LIMIT %s"
    )
    return sql, [*params, *score_params, *join_params, *floor_params, k]


def ranked_images_sql(sides: list[Side], *, k: int, **filters) -> tuple[str, list]:
    """(image id, score) rows by one side's nearest (the score is its cosine, the share does not
    matter) or by several sides blended (keyword arguments as for `nearest_images_sql`)."""
    if len(sides) == 1:
        side = sides[0]
        return nearest_images_sql(side.space, side.query, k=k, weights=side.weights, **filters)
    return blended_images_sql(sides, k=k, **filters)


def images_by_vectors(sides: list[Side], *, k: int, **filters) -> list[Hit]:
    """Items nearest to the query of one side, or of several blended, in one SQL query; none
    without a side."""
    return _hits(*ranked_images_sql(sides, k=k, **filters)) if sides else []


@dataclass(frozen=True)
class TextQuery:
    """A PostgreSQL `tsquery` expression (SQL with %s placeholders) and its parameters."""

    sql: str
    params: list


def matching_items_sql(text: TextQuery, *, limit: int, category_id: int | None = None) -> tuple[str, list]:
    """(image id, text rank) of ready items whose title, category, description or tags match."""
    category, params = ("AND i.category_id = %s", [category_id]) if category_id is not None else ("", [])
    sql = (
        "SELECT i.id AS image_id, ts_rank_cd(i.search_document, t.q) AS text_rank"
        f" FROM catalog_image i, (SELECT {text.sql} AS q) t"
        f" WHERE i.status = 'ready' AND i.search_document @@ t.q {category}"
        " ORDER BY text_rank DESC, i.id LIMIT %s"
    )
    return sql, [*text.params, *params, limit]


# Reciprocal rank fusion (Cormack et al., 2009): robust to the two sides' scores living on
# different scales. k = 60 as in the paper.
RRF_K = 60


def images_for_text_and_vector(
    sides: list[Side],
    text: TextQuery | None,
    *,
    k: int,
    category_id: int | None = None,
    min_score: float | None = None,
) -> list[Hit]:
    """Hybrid search in one SQL query: the nearest items by vector (one space, or several
    blended) and the items whose text matches, fused by weighted reciprocal rank. Either side may
    be absent. The score shown is each item's vector similarity, whichever side found it."""
    candidates = max(4 * k, 50)
    rankings: list[tuple[str, str, list, float]] = []  # (name, SQL of ranked image ids, params, weight)
    if sides:
        sql, params = ranked_images_sql(sides, k=candidates, category_id=category_id)
        ranked = f"SELECT image_id, row_number() OVER (ORDER BY score DESC, image_id) AS r FROM ({sql}) s"
        rankings.append(("semantic", ranked, params, settings.HYBRID_SEMANTIC_WEIGHT))
    if text is not None:
        sql, params = matching_items_sql(text, limit=candidates, category_id=category_id)
        ranked = f"SELECT image_id, row_number() OVER (ORDER BY text_rank DESC, image_id) AS r FROM ({sql}) t"
        rankings.append(("lexical", ranked, params, settings.HYBRID_TEXT_WEIGHT))
    if not rankings:
        return []
    ctes = ", ".join(f"{name} AS ({ranked})" for name, ranked, _, _ in rankings)
    rrf = " + ".join(f"coalesce(%s::float / ({RRF_K} + {name}.r), 0)" for name, _, _, _ in rankings)
    sources = " FULL OUTER JOIN ".join(name for name, _, _, _ in rankings)
    params = [param for _, _, ranked_params, _ in rankings for param in ranked_params]
    params += [weight for _, _, _, weight in rankings]
    text_match = "lexical.r IS NOT NULL" if text is not None else "false"
    # An item found by its text alone and never embedded gets a NULL score.
    score, score_params, joins, join_params = _side_scores(sides, "f") if sides else ("NULL", [], "", [])
    floor, floor_params = ("WHERE score >= %s", [min_score]) if min_score is not None and sides else ("", [])
    sql = (
        f"WITH {ctes}, fused AS (SELECT image_id, {rrf} AS rrf, {text_match} AS text_match"
        f" FROM {sources}{' USING (image_id)' if len(rankings) > 1 else ''})"
        f" SELECT image_id, score, text_match FROM (SELECT f.image_id, f.rrf, f.text_match, {score} AS score"
        f" FROM fused f {joins}) scored {floor} ORDER BY rrf DESC, image_id LIMIT %s"
    )
    return _hits(sql, [*params, *score_params, *join_params, *floor_params, k])


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
