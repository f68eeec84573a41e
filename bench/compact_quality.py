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
from django.db import connection

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
from search import modes
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


def before_and_after(spaces: Spaces, photos: DevPhotos) -> dict[str, tuple[float, float]]:
    """measurement -> (float32, halfvec)."""
    figures: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    def word_rows(rows: dict[tuple[str, str], Row], field: str, label: str) -> None:
        for (_, mode), row in sorted(rows.items()):
            record(f"{label}, {mode}", getattr(row, field))

    def twice(fill: Callable[[], tuple], measure: Callable[[tuple], None]) -> None:
        as_float32(spaces)
        filled = fill()
        measure(filled)
        compact(spaces)
        measure(filled)

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

    twice(lambda: flickr_catalogue(spaces, photos), flickr)
    twice(lambda: imagenet_catalogue(spaces, photos), imagenet)
    return {name: (values[0], values[1]) for name, values in figures.items()}
