"""Search quality before and after the compaction to halfvec, on the dev photos, in one run.

Each catalogue (the ImageNet and Flickr dev photos; the ImageNet ones alone) is filled into
float32 spaces, as a catalogue made before halfvec storage, and measured; then the product's
own migration (`spaces.compaction.compact_space`) moves it to halfvec while nothing else
changes, and it is measured again. Word search in both modes (Flickr P@10, the Pascal words'
R-precision, each photo's own label) and more like this in each similarity (precision@10
within Pascal categories), all through `search.modes`, each space's HNSW index included.
Tags are computed before any vector is stored (`ml.embed`), so storage cannot change them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from django.db import connection, transaction

from bench.scale.truth import exact_neighbours
from bench.word_dev_photos import DevPhotos
from bench.word_search_product import (
    Row,
    Spaces,
    flickr_catalogue,
    imagenet_catalogue,
    measure_flickr_on,
    measure_imagenet_on,
)
from catalog.models import Image
from search import modes, ranking
from spaces import selectors
from spaces.compaction import compact_space
from spaces.models import EmbeddingSpace
from spaces.services import create_space_index

Storage = EmbeddingSpace.Storage


def image_spaces(spaces: Spaces) -> list[EmbeddingSpace]:
    return [spaces.image, spaces.meaning, *spaces.joints.values()]


def as_float32(spaces: Spaces) -> None:
    """An empty catalogue whose image spaces store float32, with float32 indexes."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_image CASCADE")
        for space in image_spaces(spaces):
            for name in space.index_names:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
    for space in image_spaces(spaces):
        EmbeddingSpace.objects.filter(pk=space.pk).update(storage=Storage.FLOAT32)
        space.storage = Storage.FLOAT32
        create_space_index(space)


def compact(spaces: Spaces) -> None:
    """The product's migration, then the spaces as searches now read them."""
    for space in image_spaces(spaces):
        compact_space(space, settle_seconds=0)
        space.refresh_from_db()


def more_like_this(ids: list[int], photos: DevPhotos) -> dict[str, float]:
    """Precision@10 within Pascal categories of more like this, per similarity, over the
    ImageNet photos that have a category."""
    pascal = {image_id: photos.pascal[row] for row, image_id in enumerate(ids)}
    queries = [image_id for image_id in ids if pascal[image_id]]
    precision = {}
    for similarity in modes.Similarity:
        shares = []
        for image_id in queries:
            hits = modes.similar_items(Image(pk=image_id), modes.Filters(k=10), similarity=similarity).hits
            shares.append(np.mean([pascal.get(hit.image.pk) == pascal[image_id] for hit in hits]))
        precision[similarity.value] = float(np.mean(shares))
    return precision


def real_recall(spaces: Spaces, ids: list[int], probes: int = 200) -> dict[str, tuple[float, bool]]:
    """recall@10 of each space's HNSW index against exact search over real photos' vectors:
    kind -> (recall, whether the plan used the index). The planner would scan a catalogue this
    small exactly, so the index is forced, as a large catalogue would use it."""
    rng = np.random.default_rng(0)
    probe_ids = [ids[row] for row in rng.choice(len(ids), size=min(probes, len(ids)), replace=False)]
    recall = {}
    for space in image_spaces(spaces):
        stored = selectors.vectors_of(space, probe_ids)
        queries = np.stack([stored[image_id] for image_id in probe_ids])
        truths = exact_neighbours(space, queries, probe_ids)
        found, used = 0, False
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("SET LOCAL enable_seqscan = off")
            for image_id, query, truth in zip(probe_ids, queries, truths, strict=True):
                sql, params = ranking.nearest_images_sql(space, query, k=10, exclude_id=image_id)
                if not used:
                    cursor.execute(f"EXPLAIN {sql}", params)
                    used = any(space.index_name in row[0] for row in cursor.fetchall())
                cursor.execute(sql, params)
                found += len({row[0] for row in cursor.fetchall()} & truth)
        recall[space.kind] = (found / (10 * len(probe_ids)), used)
    return recall


def before_and_after(spaces: Spaces, photos: DevPhotos) -> tuple[dict[str, tuple[float, float]], dict]:
    """measurement -> (float32, halfvec), and each index's recall on the real photos (halfvec)."""
    figures: dict[str, list[float]] = {}
    recall: dict = {}

    def record(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    def word_rows(rows: dict[tuple[str, str], Row], field: str, label: str) -> None:
        for (_, mode), row in sorted(rows.items()):
            record(f"{label}, {mode}", getattr(row, field))

    def twice(fill: Callable[[], tuple], measure: Callable[[tuple], None]) -> tuple:
        as_float32(spaces)
        filled = fill()
        measure(filled)
        compact(spaces)
        measure(filled)
        return filled

    def flickr(filled: tuple) -> None:
        rows: dict[tuple[str, str], Row] = {}
        measure_flickr_on(spaces, *filled, rows)
        word_rows(rows, "flickr", "Flickr one- and two-word queries, P@10")

    def imagenet(filled: tuple) -> None:
        rows: dict[tuple[str, str], Row] = {}
        measure_imagenet_on(spaces, photos, filled[0], rows)
        word_rows(rows, "pascal", "20 Pascal words, R-precision")
        word_rows(rows, "label", "own label in the top 10")
        for similarity, value in more_like_this(filled[0], photos).items():
            record(f"more like this ({similarity}), precision@10 within Pascal categories", value)

    filled = twice(lambda: flickr_catalogue(spaces, photos), flickr)
    recall.update(real_recall(spaces, filled[0]))
    twice(lambda: imagenet_catalogue(spaces, photos), imagenet)
    return {name: (values[0], values[1]) for name, values in figures.items()}, recall
