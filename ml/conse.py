"""ConSE (Norouzi et al., 2014): embed an image as the probability-weighted mean of the
word vectors of its most likely ImageNet classes, so classifier output becomes searchable
by words the classifier was never trained on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ml.imagenet import CLASS_GROUPS, CLASS_NAMES, class_group, class_words


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so that large logits cannot overflow."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    return (exps / exps.sum(axis=-1, keepdims=True)).astype(np.float32)


def top_classes(logits_row: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The `k` most probable classes of one image as (class index, probability), best first."""
    probabilities = softmax(logits_row)
    best = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(index), float(probabilities[index])) for index in best]


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


# Share of a class vector given to its group word (see ml.imagenet.CLASS_GROUPS); measured on the
# development photos, 0.3-0.7 all put 10 dogs in the top 10 for "dog" (none: 2).
GROUP_WEIGHT = 0.5


def class_word_matrix(lookup: Callable[[list[str]], dict[str, np.ndarray]], dims: int) -> np.ndarray:
    """(1000, dims): each class's mean of unit word vectors, blended with its group word;
    zeros where no word is known."""
    matrix = np.zeros((len(CLASS_NAMES), dims), dtype=np.float32)
    groups = lookup(list(CLASS_GROUPS))
    for index in range(len(CLASS_NAMES)):
        # Normalise first so that one frequent, long vector does not dominate the name.
        found = [_unit(vector) for vector in lookup(class_words(index)).values()]
        name = _unit(np.mean(found, axis=0)) if found else None
        group = groups.get(class_group(index) or "")
        if group is not None:
            group = _unit(group)
            matrix[index] = group if name is None else (1 - GROUP_WEIGHT) * name + GROUP_WEIGHT * group
        elif name is not None:
            matrix[index] = name
    return matrix


def conse_vectors(logits: np.ndarray, class_vectors: np.ndarray, top_t: int = 10) -> np.ndarray:
    """(n, dims) unit vectors: the top-T classes' vectors weighted by renormalised probability."""
    probabilities = softmax(logits).astype(np.float64)
    # Classes with no word vector cannot contribute, so they must not use up a top-T slot.
    usable = np.any(class_vectors != 0, axis=1)
    probabilities[:, ~usable] = -1.0
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_t]
    weights = np.take_along_axis(probabilities, top, axis=1)
    weights = np.where(weights > 0, weights, 0.0)
    totals = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    combined = np.einsum("nt,ntd->nd", weights, class_vectors[top].astype(np.float64))
    norms = np.linalg.norm(combined, axis=1, keepdims=True)
    return np.divide(combined, norms, out=np.zeros_like(combined), where=norms > 0).astype(np.float32)
