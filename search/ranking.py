"""Ranking SQL: every search is one statement over pgvector (and PostgreSQL's full text).

Vector expressions come from `spaces.sql`, so that queries use the very expression of each
space's partial HNSW index; filters go into the same statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from catalog.models import Image
from search.parsing import Term
from spaces import vector_sql
from spaces.models import EmbeddingSpace


@dataclass
class Hit:
    image: Image
    score: float | None  # what the list is ordered by: cosine similarity (1 is identical), in
    # hybrid word search plus the text match's share; None: found by text alone, no vector
    why: list[str] = field(default_factory=list)  # the item's own tags, classes or words that matched
    text_match: bool = False  # its title, category, description or confident tags matched the words
    vector_match: bool = True  # the vector side found it (hybrid search: among the nearest items)


def _distance(space: EmbeddingSpace, weights: np.ndarray | None, alias: str = "e") -> tuple[str, list]:
    """The distance expression (as in the space's index, so PostgreSQL can use it) and its params,
    less the query vector's, which comes last."""
    if weights is not None:
        # Class-focused similarity: both sides reweighted elementwise (exact; candidates come
        # from the plain index, see `nearest_images_sql`).
        cast = f"::vector({space.dims})"
        column = f"{alias}.{vector_sql.column(space)}"
        return f"((({column}{cast}) * %s{cast}) <=> %s{cast})", [vector_sql.literal(weights)]
    return f"({vector_sql.typed(space, alias)} <=> {vector_sql.typed_param(space)})", []


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
    """(image id, score) rows of the ready items nearest to `query` in `space`, best first, with
    all filters in the same SQL query: the SQL and its parameters."""
    filters, filter_params = ["e.space_id = %s", "i.status = 'ready'"], [space.pk]
    if category_id is not None:
        filters.append("i.category_id = %s")
        filter_params.append(category_id)
    if exclude_id is not None:
        filters.append("e.image_id <> %s")
        filter_params.append(exclude_id)
    query_vector = query * weights if weights is not None else query
    distance, distance_params = _distance(space, weights)
    distance_params = [*distance_params, vector_sql.literal(query_vector)]
    if min_score is not None:
        filters.append(f"{distance} <= %s")
        filter_params += [*distance_params, 1.0 - min_score]
    where = " AND ".join(filters)
    source = "spaces_imageembedding e JOIN catalog_image i ON i.id = e.image_id"
    exact_focus = weights is not None and settings.FOCUS_CANDIDATES <= 0
    if exact_focus or (weights is None and not vector_sql.uses_binary_index(space)):
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
    if vector_sql.uses_binary_index(space):
        bits = f"binary_quantize({vector_sql.typed_param(space)})::bit({space.dims})"
        order = f"{vector_sql.binary_expression(space, 'e')} <~> {bits}"
    else:
        order = f"{vector_sql.typed(space, 'e')} <=> {vector_sql.typed_param(space)}"
    sql = (
        f"SELECT image_id, 1 - distance AS score FROM ("
        f" SELECT e.image_id, {distance} AS distance FROM {source} WHERE {where}"
        f" ORDER BY {order} LIMIT %s"
        f") candidates ORDER BY distance LIMIT %s"
    )
    return sql, [*distance_params, *filter_params, vector_sql.literal(candidate_query), limit, k]


def _hits(sql: str, params: list) -> list[Hit]:
    """Run a query of (image id, score[, text match, vector match]) rows and load their items, in order."""
    with vector_sql.read_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # What a result card shows (templates/search/_results.html, the API's HitSerializer): loading
    # whole rows (the full-text document, classes) took twice as long.
    shown = ("title", "description", "thumbnail", "original", "tags", "category__name")
    images = Image.objects.select_related("category").only(*shown).in_bulk([row[0] for row in rows])
    return [
        Hit(
            image=images[row[0]],
            score=None if row[1] is None else float(row[1]),
            text_match=bool(row[2]) if len(row) > 2 else False,
            vector_match=bool(row[3]) if len(row) > 3 else True,
        )
        for row in rows
        if row[0] in images
    ]


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
        distance, distance_params = _distance(side.space, side.weights, "e")
        query = side.query * side.weights if side.weights is not None else side.query
        joins.append(
            f"LEFT JOIN LATERAL (SELECT {distance} AS distance FROM spaces_imageembedding e"
            f" WHERE e.image_id = {source}.image_id AND e.space_id = %s) d{n} ON true"
        )
        join_params += [*distance_params, vector_sql.literal(query), side.space.pk]
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


def text_query(terms: list[Term]) -> TextQuery | None:
    """The full-text side of a word query: an item's text matches when it has every positive
    word (English stemming; stop words drop out), and no minus word; weights do not apply.
    Every word counts, as on the vector side: "dog water" is not every photo tagged dog."""
    positive = [term.word for term in terms if term.weight > 0]
    negative = [term.word for term in terms if term.weight < 0]
    if not positive:
        return None
    match = " && ".join(["plainto_tsquery('english', %s)"] * len(positive))
    exclude = "".join(" && !!plainto_tsquery('english', %s)" for _ in negative)
    return TextQuery(sql=f"(({match}){exclude})", params=[*positive, *negative])


# The text side's strength: ts_rank_cd with field weights {D, C, B, A} (tags C, description B,
# title and category A) and normalisation 32, rank / (rank + 1), which maps it into [0, 1).
TEXT_RANK = "ts_rank_cd('{0.1, 0.3, 0.6, 1.0}', i.search_document, t.q, 32)"


def matching_items_sql(text: TextQuery, *, limit: int, category_id: int | None = None) -> tuple[str, list]:
    """(image id, text rank) of ready items whose title, category, description or tags match."""
    category, params = ("AND i.category_id = %s", [category_id]) if category_id is not None else ("", [])
    sql = (
        f"SELECT i.id AS image_id, {TEXT_RANK} AS text_rank"
        f" FROM catalog_image i, (SELECT {text.sql} AS q) t"
        f" WHERE i.status = 'ready' AND i.search_document @@ t.q {category}"
        " ORDER BY text_rank DESC, i.id LIMIT %s"
    )
    return sql, [*text.params, *params, limit]


def images_for_text_and_vector(
    sides: list[Side],
    text: TextQuery | None,
    *,
    k: int,
    category_id: int | None = None,
    min_score: float | None = None,
) -> list[Hit]:
    """Hybrid search in one SQL query: candidates are the nearest items by vector (one space, or
    several blended) and the items whose text matches; each is scored by the weighted mean of its
    vector similarity (weight 1) and the strength of its text match (0-1, weight
    HYBRID_TEXT_WEIGHT), and that one score orders the list and is the score shown. A calibrated
    mean, not reciprocal rank fusion: a strong vector match stays above a weak text match, and
    an item both sides find comes first. Either side may be absent."""
    candidates = max(4 * k, 50)
    ctes, params, names = [], [], []
    if sides:
        sql, side_params = ranked_images_sql(sides, k=candidates, category_id=category_id)
        ctes.append(f"semantic AS (SELECT image_id FROM ({sql}) s)")
        params += side_params
        names.append("semantic")
    if text is not None:
        sql, text_params = matching_items_sql(text, limit=candidates, category_id=category_id)
        ctes.append(f"lexical AS ({sql})")
        params += text_params
        names.append("lexical")
    if not ctes:
        return []
    sources = " FULL OUTER JOIN ".join(names) + (" USING (image_id)" if len(names) > 1 else "")
    strength = "lexical.text_rank" if text is not None else "NULL::float"
    by_vector = "semantic.image_id IS NOT NULL" if sides else "false"
    fused = f"fused AS (SELECT image_id, {strength} AS text_rank, {by_vector} AS vector_match FROM {sources})"
    # An item found by its text alone and never embedded gets no vector score (NULL).
    vector, vector_params, joins, join_params = _side_scores(sides, "f") if sides else ("NULL", [], "", [])
    floor, floor_params = ("WHERE score >= %s", [min_score]) if min_score is not None else ("", [])
    sql = (
        f"WITH {', '.join(ctes)}, {fused}"
        f" SELECT image_id, score, text_match, vector_match FROM (SELECT f.image_id, f.vector_match,"
        " f.text_rank IS NOT NULL AS text_match,"
        f" (coalesce({vector}, 0) + %s * coalesce(f.text_rank, 0)) / %s AS score FROM fused f {joins}) scored"
        f" {floor} ORDER BY score DESC, image_id LIMIT %s"
    )
    weight = settings.HYBRID_TEXT_WEIGHT
    all_params = [*params, *vector_params, weight, 1 + weight, *join_params, *floor_params, k]
    return _hits(sql, all_params)
