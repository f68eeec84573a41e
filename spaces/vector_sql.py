"""SQL for pgvector: how each space's vectors are indexed and compared.

Indexes and queries must use the very same expression, or PostgreSQL will not pick the
partial index of a space; both are built here.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import connections, router
from django.db.backends.utils import CursorWrapper

from spaces.models import EmbeddingSpace, ImageEmbedding, Word

# pgvector's HNSW limits: 2000 dims for vector, 4000 for halfvec; beyond, index bits and re-rank.
MAX_VECTOR_INDEX_DIMS = 2000
MAX_HALFVEC_INDEX_DIMS = 4000


def literal(vector: np.ndarray) -> str:
    """A pgvector text literal. Nine significant digits give back every float32 exactly; one
    %-format over the whole vector is 3x faster than repr per value (1,856 dims: 0.8 ms)."""
    values = np.asarray(vector, dtype=np.float32).ravel().tolist()
    return "[" + ",".join(["%.9g"] * len(values)) % tuple(values) + "]"


def read_cursor() -> CursorWrapper:
    """A cursor for raw-SQL reads on the database the ORM reads from (a replica for a search
    request, see config/db_router.py; else the primary): `connection` always means the primary."""
    return connections[router.db_for_read(ImageEmbedding)].cursor()


def table_for(space: EmbeddingSpace) -> str:
    return Word._meta.db_table if space.kind == EmbeddingSpace.Kind.WORD else ImageEmbedding._meta.db_table


def uses_binary_index(space: EmbeddingSpace) -> bool:
    return space.dims > MAX_HALFVEC_INDEX_DIMS


def column(space: EmbeddingSpace) -> str:
    """The column that holds the space's vectors (its storage, see EmbeddingSpace.Storage)."""
    return "compact" if space.is_compact else "embedding"


def _cast_type(space: EmbeddingSpace) -> str:
    if space.is_compact or MAX_VECTOR_INDEX_DIMS < space.dims <= MAX_HALFVEC_INDEX_DIMS:
        return "halfvec"
    return "vector"


def typed(space: EmbeddingSpace, alias: str = "") -> str:
    """The space's column (of table `alias`) cast to its fixed type, as in its index."""
    return f"({alias + '.' if alias else ''}{column(space)}::{_cast_type(space)}({space.dims}))"


def typed_param(space: EmbeddingSpace) -> str:
    return f"%s::{_cast_type(space)}({space.dims})"


def binary_expression(space: EmbeddingSpace, alias: str = "") -> str:
    return f"(binary_quantize({typed(space, alias)})::bit({space.dims}))"


def graph_parameters(kind: str) -> tuple[int, int]:
    """(m, ef_construction) of the HNSW graph of a space of `kind` (settings.HNSW_BUILD)."""
    return settings.HNSW_BUILD.get(kind, settings.HNSW_BUILD["default"])


def index_sql(space: EmbeddingSpace, *, concurrently: bool = False) -> str:
    """One partial HNSW index per space, built with its kind's graph parameters (m,
    ef_construction: settings.HNSW_BUILD, chosen by the sweep in docs/benchmarks.md)."""
    table = table_for(space)
    if uses_binary_index(space):
        # Hamming distance on sign bits finds candidates; queries re-rank them exactly.
        expression, opclass = binary_expression(space), "bit_hamming_ops"
    else:
        expression, opclass = typed(space), f"{_cast_type(space)}_cosine_ops"
    m, ef_construction = graph_parameters(space.kind)
    create = "CREATE INDEX CONCURRENTLY" if concurrently else "CREATE INDEX"
    return (
        f"{create} IF NOT EXISTS {space.index_name} ON {table} USING hnsw ({expression} {opclass})"
        f" WITH (m = {int(m)}, ef_construction = {int(ef_construction)}) WHERE space_id = {int(space.pk)}"
    )
