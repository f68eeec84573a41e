"""Exact nearest neighbours as ground truth for recall: every vector of a space streamed out of
PostgreSQL (binary COPY of the halfvecs) and scored in numpy a chunk at a time, so a million
items' vectors never sit in memory at once."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from django.db import connection

from spaces import vector_sql
from spaces.models import EmbeddingSpace

CHUNK_ROWS = 50_000
HEADER = 19  # PGCOPY signature, flags, header extension length


def _record(dims: int) -> np.dtype:
    """One row of `COPY (SELECT image_id, compact) TO STDOUT (FORMAT BINARY)`: its two fields."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("id_length", ">i4"),
            ("image_id", ">i8"),
            ("vector_length", ">i4"),
            ("dims", ">i2"),
            ("unused", ">i2"),
            ("values", ">f2", (dims,)),
        ]
    )


def stream_vectors(space: EmbeddingSpace) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image ids, float32 vectors) of every item of a halfvec space, CHUNK_ROWS at a time."""
    assert space.is_compact, "the benchmark's spaces are halfvec"
    record = _record(space.dims)
    buffer = bytearray()
    skip = HEADER
    rows = f"SELECT image_id, {vector_sql.column(space)} FROM spaces_imageembedding WHERE space_id = {int(space.pk)}"
    sql = f"COPY ({rows}) TO STDOUT (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for data in copy:
            buffer += data
            if skip:
                del buffer[:skip]
                skip = 0
            whole = len(buffer) // record.itemsize
            if whole >= CHUNK_ROWS:
                rows = np.frombuffer(bytes(buffer[: whole * record.itemsize]), dtype=record)
                del buffer[: whole * record.itemsize]
                yield rows["image_id"].astype(np.int64), rows["values"].astype(np.float32)
    whole = len(buffer) // record.itemsize  # what is left less the trailer (-1 as int16)
    if whole:
        rows = np.frombuffer(bytes(buffer[: whole * record.itemsize]), dtype=record)
        yield rows["image_id"].astype(np.int64), rows["values"].astype(np.float32)


def all_vectors(space: EmbeddingSpace) -> tuple[np.ndarray, np.ndarray]:
    """Every item's id and vector (for Annoy, which needs them all)."""
    ids, vectors = zip(*stream_vectors(space), strict=True)
    return np.concatenate(ids), np.concatenate(vectors)


def exact_neighbours(
    space: EmbeddingSpace, queries: np.ndarray, exclude: list[int], k: int = 10, weights: np.ndarray | None = None
) -> list[set[int]]:
    """The ids of the k items nearest (cosine) to each query, the query's own item `exclude[i]`
    left out. With `weights` (a row per query), by the focused similarity: both sides reweighted
    elementwise, (x*w).(q*w) / (|x*w| |q*w|) = x.(q*w*w) / (sqrt(x*x . w*w) |q*w|)."""
    squared = None if weights is None else weights * weights
    targets = queries if squared is None else queries * squared
    query_norms = np.linalg.norm(queries if weights is None else queries * weights, axis=1) + 1e-12
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    excluded = np.asarray(exclude, dtype=np.int64)[:, None]
    for ids, vectors in stream_vectors(space):
        if squared is None:
            norms = np.linalg.norm(vectors, axis=1)[None, :]
        else:
            norms = np.sqrt(squared @ (vectors * vectors).T)
        scores = (targets @ vectors.T) / (norms * query_norms[:, None] + 1e-12)
        scores[ids[None, :] == excluded] = -np.inf
        merged_scores = np.concatenate([best_scores, scores.astype(np.float32)], axis=1)
        merged_ids = np.concatenate([best_ids, np.broadcast_to(ids, scores.shape)], axis=1)
        top = np.argpartition(-merged_scores, k, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, top, axis=1)
        best_ids = np.take_along_axis(merged_ids, top, axis=1)
    return [set(row.tolist()) for row in best_ids]
