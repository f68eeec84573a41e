"""A synthetic catalogue for the scale benchmark, drawn around the development photos.

Each synthetic item mixes two real photos: features `a * f1 + (1 - a) * f2` (a uniform in
[0.6, 1]) times per-dimension log-normal noise (sigma 0.15), logits mixed the same way plus
Gaussian noise (sigma 0.3). Its meaning and word-space vectors, classes and tags are then computed
from those by `ml.embed.embed`, the worker's own assembly, so every space sees items with the
structure of real ones (clusters of kinds, near-duplicates, rare classes) at any count. (Tags are
the worker's: hedged class names and their kinds, `ml.tags`.)
Rows are written with COPY (binary halfvecs); items past the seeds are derived in SQL (`derived`).
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone

from bench.dev_photos import DevSet
from ml.embed import EmbeddedImages, embed
from ml.encoding import Encoding
from spaces import vector_sql
from spaces.models import EmbeddingSpace

MIX_MIN = 0.6
FEATURE_NOISE = 0.15
LOGIT_NOISE = 0.3
CHUNK = 20_000


@dataclass
class Batch:
    """Synthetic items in one chunk: their vectors in each space, classes and tags."""

    embedded: EmbeddedImages
    seeds: np.ndarray  # the main photo of each item (row of the dev set)


def synthetic_batch(dev: DevSet, class_matrix: np.ndarray, top_t: int, count: int, rng: np.random.Generator) -> Batch:
    """`count` items with every space's vectors. The word-only million stores only the word
    space's; its meaning vectors are computed all the same (about 1 s per chunk on 2 cores, a
    minute of the million's 10-minute load) rather than step around the worker's assembly."""
    first = rng.integers(len(dev.classes), size=count)
    second = rng.integers(len(dev.classes), size=count)
    share = rng.uniform(MIX_MIN, 1.0, size=(count, 1)).astype(np.float32)
    features = share * dev.features[first] + (1 - share) * dev.features[second]
    features *= np.exp(rng.normal(0.0, FEATURE_NOISE, size=features.shape)).astype(np.float32)
    logits = share * dev.logits[first] + (1 - share) * dev.logits[second]
    logits += rng.normal(0.0, LOGIT_NOISE, size=logits.shape).astype(np.float32)
    embedded = embed(
        Encoding(features.astype(np.float32), logits),
        class_vectors=class_matrix,
        top_t=top_t,
        tags_per_image=settings.TAGS_PER_IMAGE,
    )
    return Batch(embedded, seeds=first)


def _copy(sql: str, data: bytes) -> None:
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write(data)


def insert_items(batch: Batch, dev_labels: list[str], category_ids: list[int], first_number: int) -> list[int]:
    """Ready catalogue rows for a batch (title: the main photo's label; classes and tags as the
    worker computes them); returns their ids in batch order."""
    now = timezone.now().isoformat()
    lines = []
    for row, seed in enumerate(batch.seeds):
        number = first_number + row
        fields = [
            f"{dev_labels[seed]} {number}",
            "",
            f"bench/{number}.jpg",
            "",
            f"{number:064x}",
            now,
            now,
            "ready",
            "",
            json.dumps(batch.embedded.classes[row]),
            json.dumps(batch.embedded.tags[row]),
            str(category_ids[seed]),
        ]
        lines.append("\t".join(field.replace("\\", "\\\\").replace("\t", " ") for field in fields))
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM catalog_image")
        (before,) = cursor.fetchone()
    _copy(
        "COPY catalog_image (title, description, original, thumbnail, sha256, created_at, updated_at, status,"
        " error, classes, tags, category_id) FROM STDIN",
        ("\n".join(lines) + "\n").encode(),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM catalog_image WHERE id > %s ORDER BY id", [before])
        return [image_id for (image_id,) in cursor.fetchall()]


def insert_vectors(space: EmbeddingSpace, image_ids: list[int], rows: np.ndarray) -> None:
    """COPY vectors in PostgreSQL's binary format (pgvector's: int16 dims, int16 0, then float2s
    for a halfvec space, float4s for a float32 one)."""
    count, dims = rows.shape
    width = 2 if space.is_compact else 4
    record = np.dtype(
        [
            ("fields", ">i2"),
            ("id_length", ">i4"),
            ("image_id", ">i8"),
            ("space_length", ">i4"),
            ("space_id", ">i8"),
            ("vector_length", ">i4"),
            ("dims", ">i2"),
            ("unused", ">i2"),
            ("values", f">f{width}", (dims,)),
        ]
    )
    records = np.zeros(count, dtype=record)
    records["fields"] = 3
    records["id_length"], records["space_length"], records["vector_length"] = 8, 8, 4 + width * dims
    records["image_id"] = image_ids
    records["space_id"] = space.pk
    records["dims"] = dims
    records["values"] = rows
    stream = io.BytesIO()
    stream.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
    stream.write(records.tobytes())
    stream.write(struct.pack(">h", -1))
    column = vector_sql.column(space)
    _copy(f"COPY spaces_imageembedding (image_id, space_id, {column}) FROM STDIN (FORMAT BINARY)", stream.getvalue())
