"""Vector arithmetic every space shares: unit length and exact nearest rows by cosine."""

from __future__ import annotations

import numpy as np


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 copy scaled to unit length along the last axis (one vector or a matrix of rows);
    zero vectors stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def nearest_rows(unit_matrix: np.ndarray, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k rows of `unit_matrix` nearest to `vector` by cosine, exactly, as (row, score), best first."""
    scores = unit_matrix @ unit_rows(vector)
    k = min(k, len(scores))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    return [(int(row), float(scores[row])) for row in top[np.argsort(-scores[top], kind="stable")]]
