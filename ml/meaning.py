"""What an image's class probabilities mean in WordNet terms: tags and a "meaning" vector.

Both spread each class's probability over the class and its ancestors, so that five uncertain dog
breeds add up to a confident "dog".
"""

from __future__ import annotations

import functools

import numpy as np

from ml.hierarchy import MAX_INFORMATIVE_CLASSES, load_hierarchy
from ml.imagenet import CLASS_NAMES

# Nodes shared by more than this share of the 1000 classes are dropped from the meaning vector:
# "entity" (1000 classes), "physical entity" (997), "object" (958) and "whole" (949) hold almost
# the same mass for every image. The next node, "artifact" (522), already separates things.
MASS_MAX_SHARE = 0.9

# The meaning vector's coordinates, in order: the 1000 classes, then their ancestors by wnid.
MASS_NODES: tuple[str, ...] = load_hierarchy().nodes(MASS_MAX_SHARE)
MASS_DIMS = len(MASS_NODES)  # 1856; pgvector indexes `vector` columns of up to 2000 dims with HNSW


@functools.cache
def _membership() -> np.ndarray:
    """(1000, MASS_DIMS) 0/1: row c marks class c and each of its ancestors among MASS_NODES."""
    hierarchy = load_hierarchy()
    column = {wnid: position for position, wnid in enumerate(MASS_NODES)}
    matrix = np.zeros((len(hierarchy), MASS_DIMS), dtype=np.float32)
    for index, wnid in enumerate(hierarchy.wnids):
        for node in (wnid, *hierarchy.ancestors[index]):
            if node in column:
                matrix[index, column[node]] = 1.0
    matrix.setflags(write=False)
    return matrix


def wordnet_mass(probabilities: np.ndarray) -> np.ndarray:
    """(n, MASS_DIMS) float32: each node's share of the image's probability mass.

    `probabilities` is (n, 1000) or (1000,) softmax output. Node j of row i is the summed
    probability of the classes that are node j or descend from it; the first 1000 coordinates are
    the class probabilities themselves. Compare rows by cosine.
    """
    rows = np.atleast_2d(np.asarray(probabilities, dtype=np.float32))
    if rows.shape[-1] != len(CLASS_NAMES):
        raise ValueError(f"Expected {len(CLASS_NAMES)} class probabilities per row, got {rows.shape[-1]}.")
    return rows @ _membership()


@functools.cache
def _tag_sources(max_classes: int) -> tuple[tuple[str, int], ...]:
    """Per class: the class's own tag, then its informative ancestors' (tag, classes covered)."""
    hierarchy = load_hierarchy()
    sources = []
    for index in range(len(hierarchy)):
        own = (CLASS_NAMES[index].lower(), 1)
        ancestors = [
            (hierarchy.name(wnid).lower(), hierarchy.coverage[wnid])
            for wnid in hierarchy.informative_ancestors(index, max_classes)
        ]
        sources.append((own, *ancestors))
    return tuple(sources)


# Tags come from the image's most probable classes only (as ConSE uses its top 10) and must reach
# this summed probability; the caller completes short lists (e.g. with nearest vocabulary words).
TAG_TOP_CLASSES = 10
TAG_MIN_SCORE = 0.05


def image_tags(
    probabilities_row: np.ndarray,
    k: int = 10,
    *,
    top_classes: int = TAG_TOP_CLASSES,
    min_score: float = TAG_MIN_SCORE,
    max_classes: int = MAX_INFORMATIVE_CLASSES,
) -> list[tuple[str, float]]:
    """Up to `k` (tag, score) pairs describing one image, best first.

    Tags are the lowercased names of the image's `top_classes` most probable classes ("tabby",
    "tiger cat") and of their informative ancestors (first WordNet name: "domestic cat", "cat",
    "feline"). A tag's score is the summed probability of those classes that carry it, i.e. the
    probability that the image shows a kind of that thing; tags under `min_score` are left out.
    Equal scores list the more specific tag (fewer classes under it) first, then alphabetically.
    """
    probabilities = np.asarray(probabilities_row, dtype=np.float64).ravel()
    if probabilities.shape != (len(CLASS_NAMES),):
        raise ValueError(f"Expected {len(CLASS_NAMES)} class probabilities, got shape {probabilities.shape}.")
    sources = _tag_sources(max_classes)
    best = np.argsort(-probabilities, kind="stable")[:top_classes]
    scores: dict[str, float] = {}
    breadth: dict[str, int] = {}
    for index in best:
        # A set, so a class that reaches one name twice (two parents called alike) counts once.
        for tag, covered in set(sources[index]):
            scores[tag] = scores.get(tag, 0.0) + float(probabilities[index])
            breadth[tag] = min(breadth.get(tag, covered), covered)
    # Scores are rounded before ranking so that float noise cannot reorder equal sums.
    ranked = sorted(scores, key=lambda tag: (-round(scores[tag], 6), breadth[tag], tag))
    return [(tag, round(scores[tag], 6)) for tag in ranked if scores[tag] >= min_score][:k]


def class_meaning(class_index: int) -> np.ndarray:
    """(MASS_DIMS,) the meaning vector of an image that is certainly of one class."""
    return _membership()[class_index].copy()
