"""The catalogue the scale benchmark searches: a copy of the database, its items replaced by
synthetic ones (`synthetic`), grown size by size, with the vectors kept in memory as ground truth."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection
from django.utils.text import slugify

from bench.dev_photos import DevSet
from bench.scale.derived import derive_items
from bench.scale.synthetic import CHUNK, insert_items, insert_vectors, synthetic_batch
from catalog.models import Category
from catalog.services import SEARCH_DOCUMENT_SQL
from spaces import selectors as spaces_selectors
from spaces.models import EmbeddingSpace

Kind = EmbeddingSpace.Kind
SPACE_KINDS = (Kind.IMAGE, Kind.MEANING, Kind.JOINT)
# Items made in Python (the worker's own assembly, `synthetic`); the rest are derived from them in SQL.
SEED_ITEMS = 5_000


@contextmanager
def scale_database(*, keep: bool = False, suffix: str = "scale") -> Iterator[str]:
    """Django switched to a fresh copy of its database (`<name>_<suffix>`); yields the copy's URL,
    drops it after unless `keep`."""
    source = connection.settings_dict["NAME"]
    copy = f"{source}_{suffix}"
    connection.close()
    admin_url = urlunsplit(urlsplit(settings.DATABASE_URL)._replace(path="/template1"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        try:
            admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{source}"')
        except psycopg.errors.ObjectInUse as exc:
            raise CommandError(f"Stop what uses the database first (./dev run, a worker): {exc}") from None
    connection.settings_dict["NAME"] = copy
    try:
        yield urlunsplit(urlsplit(settings.DATABASE_URL)._replace(path=f"/{copy}"))
    finally:
        connection.close()
        connection.settings_dict["NAME"] = source
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


class ScaleCatalogue:
    """The synthetic items in the database copy, in insertion order. The first SEED_ITEMS are
    made in Python (`synthetic`); beyond, items are derived inside PostgreSQL from two of those
    (`derive_sql`): a million items load in minutes. Ground truth for recall is read back from
    the database (`truth`), so no vectors are held here."""

    def __init__(self, dev: DevSet, dataset: Path, rng: np.random.Generator) -> None:
        """Empties the catalogue (of the copy) and makes a category per Pascal category of the photos."""
        self.dev, self.rng = dev, rng
        self.spaces = {kind: spaces_selectors.active_space(kind) for kind in SPACE_KINDS}
        if None in self.spaces.values():
            raise CommandError("No processed images yet: run `./dev run` (or load_demo and a worker) once.")
        word_space = self.spaces[Kind.JOINT].word_space
        self.class_matrix = spaces_selectors.class_vectors(word_space)
        self.top_t = spaces_selectors.conse_top_t(word_space)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE catalog_image CASCADE")
        with (dataset / "labels.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        self.labels = [row["imagenet_label"] for row in rows]
        names = [row["pascal_category"] or "other" for row in rows]
        categories = {
            name: Category.objects.get_or_create(slug=slugify(f"scale-{name}"), defaults={"name": f"Scale {name}"})[
                0
            ].pk
            for name in set(names)
        }
        self.category_ids = [categories[name] for name in names]
        self.ids: list[int] = []

    def grow(self, size: int) -> None:
        """New items up to `size`, with vectors in every space."""
        while len(self.ids) < min(size, SEED_ITEMS):
            count = min(CHUNK, min(size, SEED_ITEMS) - len(self.ids))
            batch = synthetic_batch(self.dev, self.class_matrix, self.top_t, count, self.rng)
            ids = insert_items(batch, self.labels, self.category_ids, len(self.ids))
            embedded = batch.embedded
            by_kind = {Kind.IMAGE: embedded.features, Kind.MEANING: embedded.meaning, Kind.JOINT: embedded.conse}
            for kind in SPACE_KINDS:
                insert_vectors(self.spaces[kind], ids, by_kind[kind])
            self.ids += ids
        if len(self.ids) < size:
            self.ids += derive_items(self.ids[:SEED_ITEMS], len(self.ids), size - len(self.ids), self.spaces)
        with connection.cursor() as cursor:
            cursor.execute(SEARCH_DOCUMENT_SQL.format(where="i.search_document IS NULL"))
            cursor.execute("ANALYZE")

    def top_classes(self, image_ids: list[int]) -> list[int]:
        """Each item's most probable class (as focused search picks it)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, (classes->0->>'index')::int FROM catalog_image WHERE id = ANY(%s)", [list(image_ids)]
            )
            found = dict(cursor.fetchall())
        return [found[image_id] for image_id in image_ids]

    def vectors(self, kind: str, image_ids: list[int]) -> np.ndarray:
        """The stored vectors of some items in the space of `kind`, in the order of `image_ids`."""
        stored = spaces_selectors.vectors_of(self.spaces[kind], image_ids)
        return np.stack([stored[image_id] for image_id in image_ids])
