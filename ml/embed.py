"""The one place model outputs become vectors: an encoding (CNN features and ImageNet logits)
turns into each space's vector of every image, its top classes and its tags.

The worker, search by photo, the evaluation of a labelled folder and the scale benchmark all
call `embed`, so every space sees an image the same way wherever it comes from.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ml.conse import conse_vectors, softmax, top_classes
from ml.devise import joint_vectors
from ml.encoding import Encoding
from ml.imagenet import CLASS_NAMES
from ml.meaning import image_tags, meaning_vectors
from ml.vectors import nearest_rows

CLASSES_SHOWN = 5


@dataclass(frozen=True)
class Head:
    """A trained image-to-word head (ml.devise) and its share of the zero-shot vector."""

    weights: dict[str, np.ndarray]
    blend: float = 0.0


@dataclass(frozen=True)
class Vocabulary:
    """Tag words of a word space and their unit vectors, row i for words[i]."""

    words: list[str]
    unit: np.ndarray


@dataclass
class EmbeddedImages:
    features: np.ndarray  # (n, d) CNN features: the image space
    meaning: np.ndarray  # (n, MASS_DIMS) WordNet mass: the meaning space
    conse: np.ndarray  # (n, word dims) zero-shot ConSE vectors: the joint space
    heads: dict[Hashable, np.ndarray] = field(default_factory=dict)  # per trained head, its vectors
    classes: list[list[dict]] = field(default_factory=list)  # per image, its top classes
    tags: list[list[dict]] = field(default_factory=list)  # per image, its tags


def describe(probabilities_row: np.ndarray, conse_row: np.ndarray, vocabulary: Vocabulary | None, k: int) -> list[dict]:
    """An image's tags: the names of its likely classes and their kinds (tabby -> cat, feline),
    scored by probability, then, up to k, the vocabulary words nearest its word-space vector,
    scored below the last class tag (that score times their cosine)."""
    tags = image_tags(probabilities_row, k=k)
    missing = k - len(tags)
    if missing > 0 and vocabulary is not None and np.any(conse_row):
        floor = tags[-1][1] if tags else 1.0
        known = {word for word, _ in tags}
        nearest = nearest_rows(vocabulary.unit, conse_row, missing + len(known))
        words = [(vocabulary.words[row], score) for row, score in nearest if vocabulary.words[row] not in known]
        tags += [(word, floor * score) for word, score in words[:missing]]
    return [{"word": word, "score": round(score, 4)} for word, score in tags]


def embed(
    encoding: Encoding,
    *,
    class_vectors: np.ndarray,
    top_t: int,
    heads: Mapping[Hashable, Head] | None = None,
    vocabulary: Vocabulary | None = None,
    tags_per_image: int = 0,
) -> EmbeddedImages:
    """Every space's vectors of a batch of images; with `tags_per_image`, also their classes and
    tags (completed from `vocabulary`). Softmax runs once per batch."""
    probabilities = softmax(encoding.logits)
    conse = conse_vectors(probabilities, class_vectors, top_t)
    embedded = EmbeddedImages(
        features=encoding.features,
        meaning=meaning_vectors(probabilities),
        conse=conse,
        heads={
            key: joint_vectors(encoding.features, head.weights, conse=conse, blend=head.blend)
            for key, head in (heads or {}).items()
        },
    )
    if tags_per_image > 0:
        for row in range(len(probabilities)):
            embedded.classes.append(
                [
                    {"index": index, "label": CLASS_NAMES[index], "probability": round(probability, 4)}
                    for index, probability in top_classes(probabilities[row], k=CLASSES_SHOWN)
                ]
            )
            embedded.tags.append(describe(probabilities[row], conse[row], vocabulary, tags_per_image))
    return embedded
