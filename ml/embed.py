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
from ml.devise import project
from ml.encoding import Encoding
from ml.imagenet import CLASS_NAMES
from ml.meaning import meaning_vectors
from ml.ridge import is_linear, project_linear
from ml.tags import hedged_tags
from ml.vectors import blend_rows

CLASSES_SHOWN = 5


@dataclass(frozen=True)
class Head:
    """A trained image-to-word head (a linear head of ml.ridge / ml.contrastive over features and
    meaning, or a DeViSE head of ml.devise over features) and its share of the zero-shot vector."""

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


def head_vectors(
    features: np.ndarray, meaning: np.ndarray, conse: np.ndarray | None, weights: dict[str, np.ndarray], blend: float
) -> np.ndarray:
    """A trained head's vectors of some images, blended with their zero-shot vectors when `blend`
    > 0: the worker, search by photo and the filling of a trained space all call this."""
    trained = project_linear(features, meaning, weights) if is_linear(weights) else project(features, weights)
    return blend_rows(trained, conse, blend)


def describe(probabilities_row: np.ndarray, k: int) -> list[dict]:
    """An image's tags (`ml.tags.hedged_tags`): the most specific names the classifier is sure
    enough of, then their kinds, names of another kind only when likelier than not; none when
    even the best bet is below MIN_TAG_PROBABILITY. Each score is the tag's probability (the
    summed probability of the classes it names)."""
    return [
        {"word": tag.name, "score": tag.probability, "wnid": tag.wnid} for tag in hedged_tags(probabilities_row, k=k)
    ]


def embed(
    encoding: Encoding,
    *,
    class_vectors: np.ndarray,
    top_t: int,
    heads: Mapping[Hashable, Head] | None = None,
    tags_per_image: int = 0,
) -> EmbeddedImages:
    """Every space's vectors of a batch of images; with `tags_per_image`, also their classes and
    up to that many tags. Softmax runs once per batch."""
    probabilities = softmax(encoding.logits)
    conse = conse_vectors(probabilities, class_vectors, top_t)
    meaning = meaning_vectors(probabilities)
    embedded = EmbeddedImages(
        features=encoding.features,
        meaning=meaning,
        conse=conse,
        heads={
            key: head_vectors(encoding.features, meaning, conse, head.weights, head.blend)
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
            embedded.tags.append(describe(probabilities[row], tags_per_image))
    return embedded
