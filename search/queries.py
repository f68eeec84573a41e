"""The one place that builds query vectors: from words, from a catalogue item, from a photo."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from ml.conse import conse_vectors, softmax
from ml.devise import joint_vectors
from ml.imagenet import NUM_CLASSES, check_class_index
from ml.meaning import meaning_vectors, named_meaning
from search import selectors
from search.encoders import encoder
from search.models import EmbeddingSpace, ImageEmbedding, JointModel

# "cat", "+sofa", "-dog", "2:cat", "-0.5:dog": optional sign, optional weight, then the word.
TERM = re.compile(r"^(?P<sign>[+-]?)(?:(?P<weight>\d+(?:\.\d+)?):)?(?P<word>.+)$")
MAX_TERMS = 32
MAX_WEIGHT = 100.0


class QueryError(ValueError):
    """The query cannot be answered; the message is shown to the user."""


@dataclass(frozen=True)
class Term:
    word: str
    weight: float


def parse_word_query(text: str) -> list[Term]:
    """Split free text into weighted terms: `cat +sofa -dog 2:cat`.

    Refuses (QueryError) what cannot make a sensible query vector: control characters, weights
    over MAX_WEIGHT (a huge weight overflows float32 and the vector becomes NaN) and more than
    MAX_TERMS terms."""
    if any(unicodedata.category(char) == "Cc" and not char.isspace() for char in text):
        raise QueryError("The query contains control characters; type words only.")
    terms = []
    for token in re.split(r"[\s,]+", text.strip().lower()):
        match = TERM.match(token)
        if not match:
            continue
        word = match["word"].strip(".,;:!?\"'()[]{}")
        if not word:
            continue
        weight = float(match["weight"]) if match["weight"] else 1.0
        if weight > MAX_WEIGHT:
            raise QueryError(f"Weights go from 0 to {MAX_WEIGHT:g}; “{token[:40]}” is over that.")
        terms.append(Term(word, -weight if match["sign"] == "-" else weight))
    if len(terms) > MAX_TERMS:
        raise QueryError(f"A query can have at most {MAX_TERMS} words; this one has {len(terms)}.")
    return terms


@dataclass
class WordQuery:
    vector: np.ndarray | None  # in the word space
    terms: list[Term]
    unknown_words: list[str] = field(default_factory=list)
    meaning: np.ndarray | None = None  # in the meaning space, from the words that name WordNet synsets
    wordnet_names: list[str] = field(default_factory=list)  # those names ("sheep", "dining table")

    @property
    def words(self) -> list[str]:
        return [term.word for term in self.terms]


def word_query(text: str, word_space: EmbeddingSpace) -> WordQuery:
    """The weighted mean of the unit vectors of the known words (unknown words are reported) and,
    for the words that name WordNet synsets, their meaning (`ml.meaning.named_meaning`)."""
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
    meaning, names = named_meaning([(term.word, term.weight) for term in terms])
    return WordQuery(
        vector=vector / norm if norm > 0 else None,
        terms=terms,
        unknown_words=unknown,
        meaning=meaning,
        wordnet_names=names,
    )


def text_query(terms: list[Term]) -> selectors.TextQuery | None:
    """The full-text side of a word query: any positive word matches (English stemming), a
    minus word excludes; weights do not apply. None when no word can match."""
    positive = [term.word for term in terms if term.weight > 0]
    negative = [term.word for term in terms if term.weight < 0]
    if not positive:
        return None
    match = " || ".join(["plainto_tsquery('english', %s)"] * len(positive))
    exclude = "".join(" && !!plainto_tsquery('english', %s)" for _ in negative)
    return selectors.TextQuery(sql=f"(({match}){exclude})", params=[*positive, *negative])


def stored_vectors(image_id: int, spaces: list[EmbeddingSpace]) -> dict[int, np.ndarray]:
    """An item's vectors in the given spaces (one query), by space id."""
    rows = ImageEmbedding.objects.filter(image_id=image_id, space__in=spaces).values_list("space_id", "embedding")
    return {space_id: np.asarray(embedding, dtype=np.float32) for space_id, embedding in rows}


@dataclass
class ImageQuery:
    """A query image in each space: CNN features, meaning (WordNet mass) and word-space vector."""

    features: np.ndarray
    meaning: np.ndarray | None
    joint: np.ndarray | None


def item_query(
    image_id: int, image_space: EmbeddingSpace, meaning_space: EmbeddingSpace | None, joint_space: EmbeddingSpace | None
) -> ImageQuery:
    """A catalogue item's stored vectors; QueryError if it has not been processed."""
    spaces = [space for space in (image_space, meaning_space, joint_space) if space is not None]
    found = stored_vectors(image_id, spaces)
    if image_space.pk not in found:
        raise QueryError("This item has not been processed yet, so it cannot be compared.")
    return ImageQuery(
        features=found[image_space.pk],
        meaning=found.get(meaning_space.pk) if meaning_space else None,
        joint=found.get(joint_space.pk) if joint_space else None,
    )


def photo_query(picture: PILImage.Image, image_space: EmbeddingSpace, joint_space: EmbeddingSpace | None) -> ImageQuery:
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
    return ImageQuery(features=encoding.features[0], meaning=meaning_vectors(softmax(encoding.logits))[0], joint=joint)


def focused_meaning(class_index: int) -> np.ndarray:
    """Focus in the meaning space: the meaning of the focus class itself (the cat, its kind of
    animal, ...), so that "same kind of thing" means the same kind as the focused object."""
    try:
        certain = np.zeros(NUM_CLASSES, dtype=np.float32)
        certain[check_class_index(class_index)] = 1.0
        return meaning_vectors(certain)[0]
    except ValueError as exc:
        raise QueryError(str(exc)) from None


def focus_weights(image_space: EmbeddingSpace, class_index: int) -> np.ndarray:
    """The classifier's weights for one ImageNet class, used to reweight features elementwise."""
    try:
        check_class_index(class_index)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    return encoder(image_space.model).classifier_weights()[class_index]
