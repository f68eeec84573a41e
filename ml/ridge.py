"""A linear head from an image to the sentence space, fitted in closed form (ridge regression).

Inputs are [sqrt(CNN features), WordNet meaning vector], z-scored with the training items' mean and
spread; the target is the unit mean sentence embedding of an item's texts. One eigendecomposition (of the
training items' Gram matrix) gives the solution for every regularisation strength at once; the strength kept
is the one whose predictions are closest (mean cosine) to the targets of a validation split of
the training items, and the head is then refitted on all of them.

Weights (`mean`, `scale`, `w`, `b`) project in numpy anywhere: web, worker, fill, bench.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ml.vectors import unit_rows

ALPHAS = (1.0, 10.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)  # relative to the input dims


@dataclass
class LinearHead:
    weights: dict[str, np.ndarray]
    seconds: float = 0.0
    alpha: float = 0.0
    validation: dict[float, float] = field(default_factory=dict)  # alpha -> mean validation cosine


def head_inputs(features: np.ndarray, meaning: np.ndarray) -> np.ndarray:
    """[sqrt(features), meaning]: the square root tames the CNN's few large activations."""
    features = np.sqrt(np.maximum(np.asarray(features, dtype=np.float32), 0.0))
    return np.hstack([features, np.asarray(meaning, dtype=np.float32)])


def is_linear(weights: dict[str, np.ndarray]) -> bool:
    """Linear heads have `scale` (the z-scoring); a DeViSE head has w1, b1, w2, b2."""
    return "scale" in weights


def project_linear(features: np.ndarray, meaning: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """(n, k) unit vectors in the sentence space."""
    inputs = (head_inputs(features, meaning) - weights["mean"]) / weights["scale"]
    return unit_rows(inputs @ weights["w"] + weights["b"])


def standardiser(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = inputs.mean(axis=0)
    return mean.astype(np.float32), (inputs.std(axis=0) + 1e-3).astype(np.float32)


def _solver(inputs: np.ndarray):
    """Ridge solutions for any alpha from one eigendecomposition: of the n x n Gram matrix when
    items are fewer than input dims (2,000 items against 3,136 dims), else of the d x d
    covariance; trying eight alphas then costs about one solve. Inputs must be centred (the
    bias is the targets' mean)."""
    x = inputs.astype(np.float64)
    dual = len(x) <= x.shape[1]
    eigenvalues, eigenvectors = np.linalg.eigh(x @ x.T if dual else x.T @ x)

    def solve(targets: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        target_mean = targets.mean(axis=0)
        centred = targets - target_mean
        if dual:  # w = X^T (X X^T + alpha I)^-1 Y
            w = x.T @ (eigenvectors @ ((eigenvectors.T @ centred) / (eigenvalues + alpha)[:, None]))
        else:  # w = (X^T X + alpha I)^-1 X^T Y
            w = eigenvectors @ ((eigenvectors.T @ (x.T @ centred)) / (eigenvalues + alpha)[:, None])
        return w.astype(np.float32), target_mean.astype(np.float32)

    return solve


def fit_ridge(
    features: np.ndarray,
    meaning: np.ndarray,
    targets: np.ndarray,
    validation: np.ndarray,
    alphas: tuple[float, ...] = ALPHAS,
) -> LinearHead:
    """Fit on the items not in `validation`, choose alpha on those in it, refit on all.
    With fewer than 2 validation items the middle alpha is kept."""
    started = time.perf_counter()
    raw = head_inputs(features, meaning)
    targets = unit_rows(np.asarray(targets, dtype=np.float32))
    scaled_alphas = [alpha * raw.shape[1] / 1000 for alpha in alphas]
    scores: dict[float, float] = {}
    if validation.sum() >= 2 and (~validation).sum() >= 2:
        mean, scale = standardiser(raw[~validation])
        inputs = (raw - mean) / scale
        solve = _solver(inputs[~validation])
        for alpha in scaled_alphas:
            w, b = solve(targets[~validation], alpha)
            predicted = unit_rows(inputs[validation] @ w + b)
            scores[alpha] = float((predicted * targets[validation]).sum(axis=1).mean())
        alpha = max(scores, key=scores.get)
    else:
        alpha = scaled_alphas[len(scaled_alphas) // 2]
    mean, scale = standardiser(raw)
    w, b = _solver((raw - mean) / scale)(targets, alpha)
    weights = {"mean": mean, "scale": scale, "w": w, "b": b}
    return LinearHead(weights, time.perf_counter() - started, alpha, {a: round(v, 4) for a, v in scores.items()})
