"""Items past the seeds, derived inside PostgreSQL: each takes a random seed item's title,
category, classes and tags, and in every space the vector (seed + other seed) * noise, with
`other` a second random seed and `noise` one of NOISE_VECTORS per-dimension log-normal vectors
(sigma FEATURE_NOISE, as `synthetic`). pgvector's halfvec arithmetic does the work: no vector
crosses the wire, a million items load in minutes."""

from __future__ import annotations

import numpy as np
from django.db import connection

from bench.scale.synthetic import FEATURE_NOISE
from spaces import vector_sql
from spaces.models import EmbeddingSpace

NOISE_VECTORS = 1000


def _noise_table(spaces: dict[str, EmbeddingSpace], rng: np.random.Generator) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_noise")
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_noise (space_id bigint, n int, v halfvec, PRIMARY KEY (space_id, n))"
        )
        for space in spaces.values():
            noise = np.exp(rng.normal(0.0, FEATURE_NOISE, size=(NOISE_VECTORS, space.dims)))
            cursor.executemany(
                "INSERT INTO bench_noise VALUES (%s, %s, %s::halfvec)",
                [(space.pk, n, vector_sql.literal(vector)) for n, vector in enumerate(noise)],
            )


def derive_items(seed_ids: list[int], first_number: int, count: int, spaces: dict[str, EmbeddingSpace]) -> list[int]:
    """`count` new ready items derived from `seed_ids` (numbered from `first_number`, as titles
    and digests of the Python-made ones are); returns their ids in order."""
    _noise_table(spaces, np.random.default_rng(first_number))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_seed, bench_derived")
        cursor.execute("CREATE UNLOGGED TABLE bench_seed (k int PRIMARY KEY, image_id bigint)")
        cursor.execute(
            "INSERT INTO bench_seed SELECT k - 1, id FROM unnest(%s::bigint[]) WITH ORDINALITY AS s(id, k)", [seed_ids]
        )
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_derived AS"
            " SELECT nextval(pg_get_serial_sequence('catalog_image', 'id')) AS image_id, r.n, a.image_id AS seed,"
            " b.image_id AS other, r.noise FROM (SELECT n, floor(random() * %(seeds)s)::int AS k1,"
            " floor(random() * %(seeds)s)::int AS k2, floor(random() * %(noise)s)::int AS noise"
            " FROM generate_series(%(first)s, %(last)s) n) r"
            " JOIN bench_seed a ON a.k = r.k1 JOIN bench_seed b ON b.k = r.k2",
            {"seeds": len(seed_ids), "noise": NOISE_VECTORS, "first": first_number, "last": first_number + count - 1},
        )
        cursor.execute(
            "INSERT INTO catalog_image (id, title, description, original, thumbnail, sha256, created_at, updated_at,"
            " status, error, classes, tags, category_id)"
            " SELECT d.image_id, regexp_replace(i.title, ' [0-9]+$', '') || ' ' || d.n, '', 'bench/' || d.n || '.jpg',"
            " '', lpad(to_hex(d.n), 64, '0'), now(), now(), 'ready', '', i.classes, i.tags, i.category_id"
            " FROM bench_derived d JOIN catalog_image i ON i.id = d.seed ORDER BY d.image_id"
        )
        for space in spaces.values():
            cursor.execute(
                "INSERT INTO spaces_imageembedding (image_id, space_id, compact)"
                " SELECT d.image_id, %s, (a.compact + b.compact) * z.v FROM bench_derived d"
                " JOIN spaces_imageembedding a ON a.image_id = d.seed AND a.space_id = %s"
                " JOIN spaces_imageembedding b ON b.image_id = d.other AND b.space_id = %s"
                " JOIN bench_noise z ON z.space_id = %s AND z.n = d.noise ORDER BY d.image_id",
                [space.pk] * 4,
            )
        cursor.execute("SELECT image_id FROM bench_derived ORDER BY image_id")
        ids = [image_id for (image_id,) in cursor.fetchall()]
        cursor.execute("DROP TABLE bench_seed, bench_derived, bench_noise")
    return ids
