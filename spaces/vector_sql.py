"""SQL for pgvector: how each space's vectors are indexed and compared.

Indexes and queries must use the very same expression, or PostgreSQL will not pick the
partial index of a space; both are built here.
"""

from __future__ import annotations

import numpy as np
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


def typed(space: EmbeddingSpace, column: str = "embedding") -> str:
    """The column cast to the space's fixed type, as in its index."""
    if space.dims > MAX_VECTOR_INDEX_DIMS and not uses_binary_index(space):
        return f"({column}::halfvec({space.dims}))"
    return f"({column}::vector({space.dims}))"


def typed_param(space: EmbeddingSpace) -> str:
    kind = "halfvec" if typed(space).startswith("(embedding::halfvec") else "vector"
    return f"%s::{kind}({space.dims})"


def binary_expression(space: EmbeddingSpace, column: str = "embedding") -> str:
    return f"(binary_quantize({column}::vector({space.dims}))::bit({space.dims}))"


def index_sql(space: EmbeddingSpace) -> list[str]:
    """One partial HNSW index per space."""
    table = table_for(space)
    if uses_binary_index(space):
        # Hamming distance on sign bits finds candidates; queries re-rank them exactly.
        expression, opclass = binary_expression(space), "bit_hamming_ops"
    elif space.dims > MAX_VECTOR_INDEX_DIMS:
        expression, opclass = typed(space), "halfvec_cosine_ops"
    else:
        expression, opclass = typed(space), "vector_cosine_ops"
    create = f"CREATE INDEX IF NOT EXISTS {{name}} ON {table} USING hnsw ({expression} {opclass}) WHERE {{where}}"
    return [create.format(name=space.index_name, where=f"space_id = {int(space.pk)}")]
