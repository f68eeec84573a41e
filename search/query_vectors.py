"""The one place that builds query vectors: from words, from a catalogue item, from a photo."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image as PILImage

from ml.imagenet import NUM_CLASSES, check_class_index
from ml.meaning import meaning_vectors, named_meaning
from ml.vectors import unit_rows
from search.parsing import QueryError, Term, has_syntax, parse_word_query
from spaces import selectors
from spaces.embedding import embed_pictures
from spaces.encoders import encoder, sentence_vector
from spaces.models import EmbeddingSpace, JointModel


@dataclass
class WordQuery:
    vector: np.ndarray | None  # in the word space
    terms: list[Term]
    unknown_words: list[str] = field(default_factory=list)  # words a word-vector space lacks
    # Words the space's vocabulary lacks, the candidates for spelling help (in a sentence space
    # every word is embedded, but "catt" is still worth a "did you mean").
    unfamiliar_words: list[str] = field(default_factory=list)
    meaning: np.ndarray | None = None  # in the meaning space, from the words that name WordNet synsets
    wordnet_names: list[str] = field(default_factory=list)  # those names ("sheep", "dining table")

    @property
    def words(self) -> list[str]:
        return [term.word for term in self.terms]


def word_query(text: str, word_space: EmbeddingSpace) -> WordQuery:
    """The query's vector in `word_space` and, for the words that name WordNet synsets, their
    meaning (`ml.meaning.named_meaning`).

    In a sentence space a query without syntax is embedded whole, as one sentence ("children
    playing in the snow"); with weights or signs (`2:cat -dog`, `cat +sofa`) each term is
    embedded alone and the vector is the weighted sum of their unit vectors, minus terms
    subtracting. In a word-vector space it is that weighted sum over the words the space knows
    (the others are reported as unknown)."""
    terms = parse_word_query(text)
    if not terms:
        raise QueryError("Type one or more words, e.g. “cat sofa” or “ocean -boat”.")
    known = selectors.word_vectors(word_space, [term.word for term in terms])
    unknown = sorted({term.word for term in terms if term.word not in known})
    if word_space.encodes_sentences and not has_syntax(text):
        vector = np.array(sentence_vector(" ".join(text.split()).lower()))
    elif word_space.encodes_sentences:
        vector = sum(term.weight * sentence_vector(term.word) for term in terms)
    else:
        vector = sum(term.weight * unit_rows(known[term.word]) for term in terms if term.word in known)
    vector = np.asarray(vector, dtype=np.float32)
    meaning, names = named_meaning([(term.word, term.weight) for term in terms])
    return WordQuery(
        vector=unit_rows(vector) if np.any(vector) else None,
        terms=terms,
        unknown_words=[] if word_space.encodes_sentences else unknown,
        unfamiliar_words=unknown,
        meaning=meaning,
        wordnet_names=names,
    )


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
    found = selectors.stored_vectors(image_id, spaces)
    if image_space.pk not in found:
        raise QueryError("This item has not been processed yet, so it cannot be compared.")
    return ImageQuery(
        features=found[image_space.pk],
        meaning=found.get(meaning_space.pk) if meaning_space else None,
        joint=found.get(joint_space.pk) if joint_space else None,
    )


def photo_query(picture: PILImage.Image, image_space: EmbeddingSpace, joint_space: EmbeddingSpace | None) -> ImageQuery:
    """Run a visitor's photo through the encoder of the active image space (in the request),
    into the same spaces as the worker's: a trained joint space projects its features."""
    if joint_space is None or joint_space.word_space is None:
        raise QueryError("Search is not ready yet: no image has been processed.")
    models = list(JointModel.objects.select_related("space").filter(space=joint_space).exclude(weights=""))
    embedded = embed_pictures(encoder(image_space.model), [picture], joint_space.word_space, models=models)
    joint = embedded.heads.get(joint_space, embedded.conse)
    return ImageQuery(features=embedded.features[0], meaning=embedded.meaning[0], joint=joint[0])


@dataclass(frozen=True)
class Focus:
    """A similarity search focused on one ImageNet class ("the cat, not the bottle")."""

    weights: np.ndarray  # the class's classifier weights: features are reweighted elementwise
    meaning: np.ndarray  # the meaning of the class itself: "same kind" as the focused object


def focus(image_space: EmbeddingSpace, class_index: int) -> Focus:
    """The focus on a class; QueryError for an index that names no class."""
    try:
        check_class_index(class_index)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    weights = encoder(image_space.model).classifier_weights()[class_index]
    return Focus(weights=weights, meaning=_class_meaning(class_index))


@lru_cache(maxsize=NUM_CLASSES)
def _class_meaning(class_index: int) -> np.ndarray:
    """The meaning of a class itself: the same for every request (3 ms each to compute)."""
    certain = np.zeros(NUM_CLASSES, dtype=np.float32)
    certain[class_index] = 1.0
    meaning = meaning_vectors(certain)[0]
    meaning.setflags(write=False)  # shared by every request
    return meaning
