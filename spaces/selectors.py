"""Reads of embedding spaces: which spaces serve, word vectors, trained heads, stored vectors.

Word vectors and head weights are cached per process, keyed by the space's `version`, which
every re-import of its vectors increments: a long-running web process never serves stale ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.conf import settings

from ml.conse import class_word_matrix
from ml.devise import load_weights
from ml.embed import Vocabulary
from ml.prototypes import class_prototypes
from ml.tags import tag_nodes
from ml.vectors import unit_rows
from ml.vocabulary import sentence_vocabulary
from spaces import vector_sql
from spaces.encoders import sentence_encoder, sentence_vector
from spaces.models import EmbeddingSpace, ImageEmbedding, JointModel


def active_spaces() -> dict[str, EmbeddingSpace]:
    """The active space of each kind, in one query (searches read two or three of them)."""
    spaces = EmbeddingSpace.objects.select_related("word_space").filter(state=EmbeddingSpace.State.ACTIVE)
    return {space.kind: space for space in spaces}


def active_space(kind: str) -> EmbeddingSpace | None:
    return active_spaces().get(kind)


# (time read, spaces) of `serving_spaces`, per process.
_serving: tuple[float, dict[str, EmbeddingSpace]] | None = None


def serving_spaces() -> dict[str, EmbeddingSpace]:
    """The active spaces as searches see them: read at most once every SERVING_SPACES_SECONDS
    per process instead of once a request. A process that has not seen a switch yet goes on
    searching the space it had for those seconds, which is safe: a switch retires the old space
    and keeps its vectors and index (`activate_space`, which also forgets this process's copy at
    once). Writes (the worker, training, switches) read `active_spaces` itself."""
    global _serving
    now = time.monotonic()
    if _serving is None or now - _serving[0] >= settings.SERVING_SPACES_SECONDS:
        _serving = (now, active_spaces())
    return _serving[1]


def forget_serving_spaces() -> None:
    global _serving
    _serving = None


def _parse(text: str) -> np.ndarray:
    return np.asarray(text.strip("[]").split(","), dtype=np.float32)


# Word vectors read before, by (space id, version, word); None for a word the space lacks.
# Searches look up the same few thousand words again and again. Bounded: cleared when full.
_word_cache: dict[tuple[int, int, str], np.ndarray | None] = {}
WORD_CACHE_SIZE = 50_000


def word_vectors(space: EmbeddingSpace, words: Iterable[str]) -> dict[str, np.ndarray]:
    """Vectors of the given words that the word space knows."""
    wanted = sorted(set(words))
    key = (space.pk, space.version)
    cached = {word: _word_cache[(*key, word)] for word in wanted if (*key, word) in _word_cache}
    missing = [word for word in wanted if word not in cached]
    if missing:
        with vector_sql.read_cursor() as cursor:
            cursor.execute(
                "SELECT word, embedding::text FROM spaces_word WHERE space_id = %s AND word = ANY(%s)",
                [space.pk, missing],
            )
            found = {word: _parse(text) for word, text in cursor.fetchall()}
        if len(_word_cache) + len(missing) > WORD_CACHE_SIZE:
            _word_cache.clear()
        for word in missing:
            cached[word] = _word_cache[(*key, word)] = found.get(word)
    return {word: vector for word, vector in cached.items() if vector is not None}


@lru_cache(maxsize=2)
def _tag_name_vectors(model: str) -> dict[str, np.ndarray]:
    names = sorted(set(tag_nodes().names))
    vocabulary = sentence_vocabulary(sentence_encoder().embed, names, model, settings.MODEL_DIR)
    return dict(zip(vocabulary.words, vocabulary.vectors, strict=True))


def text_vectors(space: EmbeddingSpace, texts: Iterable[str]) -> dict[str, np.ndarray]:
    """Vectors of words or short phrases ("tiger cat") in a word space: a sentence space embeds
    each one (every tag name embedded once, kept as .npy under MODEL_DIR: explaining a page of
    hits must not run the encoder on each of their tags), a word-vector space has those it knows."""
    if not space.encodes_sentences:
        return word_vectors(space, texts)
    tag_names = _tag_name_vectors(space.model)
    return {text: tag_names[text] if text in tag_names else sentence_vector(text) for text in set(texts)}


@lru_cache(maxsize=4)
def _class_vectors(word_space_id: int, version: int) -> np.ndarray:
    space = EmbeddingSpace.objects.get(pk=word_space_id)
    if space.encodes_sentences:
        return class_prototypes(sentence_encoder().embed, space.model, settings.MODEL_DIR)
    return class_word_matrix(lambda words: word_vectors(space, words), space.dims)


def class_vectors(word_space: EmbeddingSpace) -> np.ndarray:
    """The 1000 ImageNet classes in a word space, what ConSE mixes: in a sentence space the class
    prototypes (names and informative ancestors embedded, `ml.prototypes`; .npy under MODEL_DIR,
    keyed by model and recipe), else the word vectors of the class names (once per version)."""
    return _class_vectors(word_space.pk, word_space.version)


def conse_top_t(word_space: EmbeddingSpace) -> int:
    """ConSE's T (classes mixed per image) for a word space, as measured for each kind of space."""
    return settings.SENTENCE_CONSE_TOP_T if word_space.encodes_sentences else settings.CONSE_TOP_T


def word_meaning_weight(word_space: EmbeddingSpace) -> float:
    """The WordNet meaning space's share in word search (it helps GloVe, not the sentence space)."""
    return settings.SENTENCE_MEANING_WEIGHT if word_space.encodes_sentences else settings.WORD_MEANING_WEIGHT


@lru_cache(maxsize=2)
def _tag_vocabulary(word_space_id: int, version: int) -> Vocabulary:
    with vector_sql.read_cursor() as cursor:
        cursor.execute(
            "SELECT word, embedding::text FROM spaces_word WHERE space_id = %s AND is_tag ORDER BY id", [word_space_id]
        )
        rows = cursor.fetchall()
    vectors = np.array([_parse(text) for _, text in rows], dtype=np.float32).reshape(len(rows), -1)
    return Vocabulary(words=[word for word, _ in rows], unit=unit_rows(vectors))


def tag_vocabulary(word_space: EmbeddingSpace) -> Vocabulary:
    """The tag words of a word space and their unit vectors (read once per version: 50k words
    are 10 MB, and a worker compares every image with all of them)."""
    return _tag_vocabulary(word_space.pk, word_space.version)


@lru_cache(maxsize=2)
def _vocabulary_words(word_space_id: int, version: int) -> tuple[str, ...]:
    with vector_sql.read_cursor() as cursor:
        cursor.execute("SELECT word FROM spaces_word WHERE space_id = %s AND is_tag ORDER BY id", [word_space_id])
        return tuple(word for (word,) in cursor.fetchall())


def vocabulary_words(word_space: EmbeddingSpace) -> tuple[str, ...]:
    """The tag words of a word space in its frequency order, without their vectors (spelling
    help and suggestions; read once per version)."""
    return _vocabulary_words(word_space.pk, word_space.version)


def trained_models(image_space: EmbeddingSpace, word_space: EmbeddingSpace) -> list[JointModel]:
    """Trained heads over `image_space`'s features into `word_space` whose weights are stored:
    new items get a vector in each of their spaces (filling, active, or kept for a rollback)."""
    return list(
        JointModel.objects.select_related("space")
        .filter(image_space=image_space, space__word_space=word_space)
        .exclude(weights="")
        .exclude(state=JointModel.State.FAILED)
    )


@lru_cache(maxsize=8)
def _head_weights(model_id: int, name: str) -> dict[str, np.ndarray]:
    with JointModel._meta.get_field("weights").storage.open(name, "rb") as handle:
        return load_weights(handle.read())


def head_weights(model: JointModel) -> dict[str, np.ndarray]:
    """A trained head's weights, read from storage once per process. Keyed by the model too: a
    deleted model's file name comes back for the next model of the same number."""
    return _head_weights(model.pk, model.weights.name)


@dataclass(frozen=True)
class ZeroShotPartner:
    """The zero-shot space a trained text head is fused with in word search, and the words its
    training texts used (in how many items: `ml.familiarity`)."""

    space: EmbeddingSpace
    word_counts: dict[str, int]
    trained_items: int


@lru_cache(maxsize=8)
def _zero_shot_partner(space_id: int) -> ZeroShotPartner | None:
    model = JointModel.objects.select_related("image_space", "space__word_space").filter(space_id=space_id).first()
    if model is None or "word_counts" not in model.metrics:
        return None
    name = EmbeddingSpace.conse_name(model.image_space.name, model.space.word_space)
    zero_shot = EmbeddingSpace.objects.filter(name=name).first()
    return ZeroShotPartner(zero_shot, model.metrics["word_counts"], model.training_size) if zero_shot else None


def zero_shot_partner(joint: EmbeddingSpace) -> ZeroShotPartner | None:
    """For a space trained on the items' texts, its partner; None for any other (a trained
    model's row never changes once it is ready, so this is read once per process)."""
    return _zero_shot_partner(joint.pk) if joint.name.split("/")[0] != "conse" else None


def stored_vectors(image_id: int, spaces: list[EmbeddingSpace]) -> dict[int, np.ndarray]:
    """An item's vectors in the given spaces (one query: "more like this" reads three), by space id."""
    columns = {space.pk: vector_sql.column(space) for space in spaces}
    rows = ImageEmbedding.objects.filter(image_id=image_id, space__in=spaces).values("space_id", "embedding", "compact")
    return {row["space_id"]: np.asarray(row[columns[row["space_id"]]], dtype=np.float32) for row in rows}


def vectors_of(
    space: EmbeddingSpace, image_ids: Iterable[int] | None = None, *, ready: bool = False
) -> dict[int, np.ndarray]:
    """Items' stored vectors in `space` (all of them without `image_ids`; `ready`: of ready items
    only), by image id, as float32 whatever the space's storage."""
    rows = ImageEmbedding.objects.filter(space=space)
    if image_ids is not None:
        rows = rows.filter(image_id__in=list(image_ids))
    if ready:
        rows = rows.filter(image__status="ready")
    pairs = rows.values_list("image_id", vector_sql.column(space))
    return {image_id: np.asarray(vector, dtype=np.float32) for image_id, vector in pairs}
