"""Moving a float32 space to halfvec storage while it serves (`manage.py compact_vectors`).

A float32 space's writers already store each new vector twice (`embedding` and `compact`,
`spaces.services.replace_image_vectors`), so the move never misses an item:
1. fill `compact` from `embedding` for the rows that lack it, a batch a transaction;
2. build the halfvec index beside the serving one (CREATE INDEX CONCURRENTLY: writes go on);
3. switch the space's storage in one transaction (a last pass fills rows written meanwhile);
4. once every process has re-read the space (SERVING_SPACES_SECONDS and a margin), drop the
   float32 index and clear `embedding`, a batch a transaction (VACUUM reuses the space).
Searches use the float32 index until step 3 and the halfvec one after it; a process that still
holds the old space row in the meantime finds both columns and both indexes in place.
"""

from __future__ import annotations

import time
from copy import copy

from django.db import connection, transaction

from spaces import selectors, vector_sql
from spaces.models import EmbeddingSpace

BATCH = 20_000


def _in_batches(step: tuple[str, str], space: EmbeddingSpace) -> int:
    """`UPDATE ... SET <assignment> WHERE <condition>` over the space's rows, a range of ids a
    transaction (a primary-key range scan each); returns the rows changed."""
    assignment, condition = step
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM spaces_imageembedding WHERE space_id = %s", [space.pk])
        first, last = cursor.fetchone()
    done = 0
    for start in range(first or 0, (last or -1) + 1, BATCH):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE spaces_imageembedding SET {assignment}"
                f" WHERE id >= %s AND id < %s AND space_id = %s AND {condition}",
                [start, start + BATCH, space.pk],
            )
            done += cursor.rowcount
    return done


FILL = ("compact = embedding::halfvec", "compact IS NULL")  # (assignment, the rows that need it)
CLEAR = ("embedding = NULL", "embedding IS NOT NULL")


def compact_space(space: EmbeddingSpace, *, settle_seconds: float) -> int:
    """Move `space` to halfvec storage (see the module's steps); returns the rows filled."""
    if space.kind == EmbeddingSpace.Kind.WORD or space.is_compact:
        return 0
    filled = _in_batches(FILL, space)
    target = copy(space)
    target.storage = EmbeddingSpace.Storage.FLOAT16
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(vector_sql.index_sql(target, concurrently=True))
    with transaction.atomic(), connection.cursor() as cursor:
        locked = EmbeddingSpace.objects.select_for_update().get(pk=space.pk)
        cursor.execute(f"UPDATE spaces_imageembedding SET {FILL[0]} WHERE space_id = %s AND {FILL[1]}", [space.pk])
        filled += cursor.rowcount
        locked.storage = EmbeddingSpace.Storage.FLOAT16
        locked.save(update_fields=["storage"])
        transaction.on_commit(selectors.forget_serving_spaces)
    time.sleep(settle_seconds)  # other processes re-read the active spaces
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {space.index_names[0]}")
    _in_batches(CLEAR, space)
    space.storage = EmbeddingSpace.Storage.FLOAT16
    return filled
