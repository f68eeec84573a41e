"""Retrieval metrics, the one definition of each: the product's evaluation and the development
measurements both use these."""

from __future__ import annotations

import numpy as np


def ranking(scores: np.ndarray) -> np.ndarray:
    """Row numbers best first (ties keep their order)."""
    return np.argsort(-np.asarray(scores), kind="stable")


def precision_at(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Share of relevant items among the k best scored."""
    return float(relevant[ranking(scores)[:k]].mean()) if k > 0 else 0.0


def r_precision(scores: np.ndarray, relevant: np.ndarray, cap: int | None = None) -> float | None:
    """Precision at R, R = the number of relevant items (at most `cap`); None without any."""
    count = int(relevant.sum()) if cap is None else min(int(relevant.sum()), cap)
    return precision_at(scores, relevant, count) if count else None


def neighbour_precision(unit_vectors: np.ndarray, labels: np.ndarray, k: int = 10) -> float | None:
    """Mean share of same-label items among the k nearest others (cosine) of each labelled item
    (label ""/None: a distractor, never a query, but a possible neighbour)."""
    labelled = np.flatnonzero([bool(label) for label in labels])
    k = min(k, len(labels) - 1)
    if not len(labelled) or k < 1:
        return None
    similarity = unit_vectors[labelled] @ unit_vectors.T
    similarity[np.arange(len(labelled)), labelled] = -np.inf
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return float((labels[nearest] == labels[labelled][:, None]).mean())
