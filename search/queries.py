"""The one place that builds query vectors: from words, from a catalogue item, from a photo."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from ml.conse import conse_vectors
from ml.devise import joint_vectors
from ml.imagenet import check_class_index
from search import selectors
from search.encoders import encoder
from search.models import EmbeddingSpace, ImageEmbedding, JointModel

# "cat", "+sofa", "-dog", "2:cat", "-0.5:dog": optional sign, optional weight, then the word.
TERM = re.compile(r"^(?P<sign>[+-]?)(?:(?P<weight>\d+(?:\.\d+)?):)?(?P<word>.+)$")


class QueryError(ValueError):
    """The query cannot be answered; the message is shown to the user."""


@dataclass(frozen=True)
class Term:
    word: str
    weight: float


def parse_word_query(text: str) -> list[Term]:
    """Split free text into weighted terms: `cat +sofa -dog 2:cat`."""
    terms = []
    for token in re.split(r"[\s,]+", text.strip().lower()):
        match = TERM.match(token)
        if not match:
            continue
        word = match["word"].strip(".,;:!?\"'()[]{}")
        if not word:
            continue
        weight = float(match["weight"]) if match["weight"] else 1.0
        terms.append(Term(word, -weight if match["sign"] == "-" else weight))
    return terms


@dataclass
class WordQuery:
    vector: np.ndarray | None
    terms: list[Term]
    unknown_words: list[str] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        return [term.word for term in self.terms]


def word_query(text: str, word_space: EmbeddingSpace) -> WordQuery:
    """The weighted mean of the unit vectors of the known words; unknown words are reported."""
    terms = parse_word_query(text)
    if not terms:
        raise QueryError("Type one or more words, e.g. “cat sofa” or “ocean -boat”.")
    known = selectors.word_vectors(word_space.pk, [term.word for term in terms])
    unknown = sorted({term.word for term in terms if term.word not in known})
    vector = np.zeros(word_space.dims, dtype=np.float32)
    for term in terms:
        if term.word in known:
            unit = known[term.word] / (np.linalg.norm(known[term.word]) or 1.0)
            vector += term.weight * unit
    norm = np.linalg.norm(vector)
    return WordQuery(vector=vector / norm if norm > 0 else None, terms=terms, unknown_words=unknown)


def stored_vector(image_id: int, space: EmbeddingSpace) -> np.ndarray | None:
    row = ImageEmbedding.objects.filter(image_id=image_id, space=space).values_list("embedding", flat=True).first()
    return None if row is None else np.asarray(row, dtype=np.float32)


@dataclass
class PhotoQuery:
    features: np.ndarray
    joint: np.ndarray | None


def photo_query(picture: PILImage.Image, image_space: EmbeddingSpace, joint_space: EmbeddingSpace | None) -> PhotoQuery:
    """Run a visitor's photo through the encoder of the active image space (in the request)."""
    encoding = encoder(image_space.model).encode([picture])
    joint = None
    if joint_space is not None and joint_space.word_space is not None:
        word_space = joint_space.word_space
        joint = conse_vectors(encoding.logits, selectors.class_vectors(word_space), settings.CONSE_TOP_T)
        model = JointModel.objects.filter(space=joint_space).first()
        if model is not None:  # a trained head: the photo's features through it
            joint = joint_vectors(encoding.features, selectors.head_weights(model), conse=joint, blend=model.blend)
        joint = joint[0]
    return PhotoQuery(features=encoding.features[0], joint=joint)


def focus_weights(image_space: EmbeddingSpace, class_index: int) -> np.ndarray:
    """The classifier's weights for one ImageNet class, used to reweight features elementwise."""
    try:
        check_class_index(class_index)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    return encoder(image_space.model).classifier_weights()[class_index]
