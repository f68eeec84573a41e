"""Vector arithmetic every space shares: unit length and exact nearest rows by cosine."""

from __future__ import annotations

import numpy as np


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 copy scaled to unit length along the last axis (one vector or a matrix of rows);
    zero vectors stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def blend_rows(trained: np.ndarray, zero_shot: np.ndarray | None, share: float) -> np.ndarray:
    """A trained space's stored vectors: its head's unit rows with `share` of the zero-shot ones."""
    if share <= 0 or zero_shot is None:
        return trained
    return unit_rows((1.0 - share) * trained + share * unit_rows(zero_shot))


def nearest_rows(unit_matrix: np.ndarray, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k rows of `unit_matrix` nearest to `vector` by cosine, exactly, as (row, score), best first."""
    scores = unit_matrix @ unit_rows(vector)
    k = min(k, len(scores))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    return [(int(row), float(scores[row])) for row in top[np.argsort(-scores[top], kind="stable")]]
