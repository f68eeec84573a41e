"""ConSE (Norouzi et al., 2014): embed an image as the probability-weighted mean of the
word vectors of its most likely ImageNet classes, so classifier output becomes searchable
by words the classifier was never trained on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ml.hierarchy import MAX_INFORMATIVE_CLASSES, load_hierarchy
from ml.imagenet import CLASS_NAMES, class_words
from ml.vectors import unit_rows
from ml.words import STOP_WORDS


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so that large logits cannot overflow."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    return (exps / exps.sum(axis=-1, keepdims=True)).astype(np.float32)


def top_classes(probabilities_row: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The `k` most probable classes of one image as (class index, probability), best first."""
    best = np.argsort(-probabilities_row, kind="stable")[:k]
    return [(int(index), float(probabilities_row[index])) for index in best]


# A class vector is (1 - ANCESTOR_SHARE) x its name + ANCESTOR_SHARE x its basic-level ancestors'
# names, the k-th nearest weighted ANCESTOR_DECAY**k (parent 1, next 1/2, ...). Measured on the 500
# development photos (python -m bench.measure_hierarchy), against the former hand-made group words:
# class-label search unchanged (92.8% of photos in the top 10 for their own label), R-precision of
# the Pascal VOC words 0.44 -> 0.61 (WordNet relevance) and of 200-odd other WordNet hypernyms
# ("snake", "truck", "monkey") 0.30 -> 0.54. More ancestor weight finds more by broad words and
# fewer by class names (0.55 / 0.3: 0.71 and 0.62, but 91.6% by label); 0.4-0.5 x 0.3-0.7 is flat.
ANCESTOR_SHARE = 0.45
ANCESTOR_DECAY = 0.5


def class_word_matrix(
    lookup: Callable[[list[str]], dict[str, np.ndarray]],
    dims: int,
    *,
    ancestor_share: float = ANCESTOR_SHARE,
    ancestor_decay: float = ANCESTOR_DECAY,
    max_classes: int = MAX_INFORMATIVE_CLASSES,
) -> np.ndarray:
    """(1000, dims) unit rows: each class's name blended with its basic-level WordNet ancestors.

    The name is the mean of the unit vectors of its words ("studio couch" -> studio, couch). The
    ancestors are `Hierarchy.basic_level_names` (covering at most `max_classes` classes, first
    name one word: sorrel -> horse, equine, ungulate) that `lookup` knows, weighted
    `ancestor_decay`**k by nearness and together given `ancestor_share` of the vector. A class
    whose name is unknown ("komondor") is its ancestors alone; rows stay zero where nothing is
    known. `lookup(words)` is called once, with every word needed, and returns the vectors of
    those it knows, so any word space works (GloVe 50-d, an imported 300-d file).
    """
    hierarchy = load_hierarchy()
    names = [class_words(index) for index in range(len(CLASS_NAMES))]
    # A stop word's vector is its function-word sense ("can" for the container).
    ancestor_names = [
        [name for name in hierarchy.basic_level_names(index, max_classes) if name not in STOP_WORDS]
        for index in range(len(CLASS_NAMES))
    ]
    found = lookup(sorted(set().union(*names, *ancestor_names)))
    # Normalise first so that one frequent, long vector does not dominate a name.
    units = {word: unit_rows(np.asarray(vector, dtype=np.float64)) for word, vector in found.items()}
    matrix = np.zeros((len(CLASS_NAMES), dims), dtype=np.float32)
    for index, words in enumerate(names):
        known = [units[word] for word in words if word in units]
        name = unit_rows(np.mean(known, axis=0)) if known else None
        ancestor_words = [word for word in ancestor_names[index] if word in units]
        ancestors = None
        if ancestor_words:
            weights = ancestor_decay ** np.arange(len(ancestor_words))
            ancestors = np.einsum("k,kd->d", weights / weights.sum(), np.stack([units[w] for w in ancestor_words]))
        if name is not None and ancestors is not None:
            matrix[index] = unit_rows((1 - ancestor_share) * name + ancestor_share * ancestors)
        elif name is not None or ancestors is not None:
            matrix[index] = unit_rows(name if name is not None else ancestors)
    return matrix


def conse_vectors(probabilities: np.ndarray, class_vectors: np.ndarray, top_t: int = 10) -> np.ndarray:
    """(n, dims) unit vectors: the top-T classes' vectors weighted by renormalised probability
    (`probabilities`: the softmax of the classifier's logits, one row per image)."""
    probabilities = np.array(probabilities, dtype=np.float64)
    # Classes with no word vector cannot contribute, so they must not use up a top-T slot.
    usable = np.any(class_vectors != 0, axis=1)
    probabilities[:, ~usable] = -1.0
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_t]
    weights = np.take_along_axis(probabilities, top, axis=1)
    weights = np.where(weights > 0, weights, 0.0)
    totals = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    return unit_rows(np.einsum("nt,ntd->nd", weights, class_vectors[top].astype(np.float64)))
