"""Similar words from the sentence space: a vocabulary of frequent words, each embedded alone.

all-MiniLM-L6-v2's nearest words are far better than GloVe-50's (sofa -> couch, furniture,
cushion; horse -> horses, horseback, equestrian), so "similar words" and query expansion read
them from here. The vocabulary is the most frequent tag words (`is_tag_word`) of a word list in
frequency order (GloVe's), embedded once and kept as .npy under the caller's cache folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ml.cache_files import write_atomically
from ml.prototypes import Embed
from ml.words import WordVectors, is_tag_word

VOCABULARY_SIZE = 40_000


def vocabulary_words(frequency_ordered: Sequence[str], size: int = VOCABULARY_SIZE) -> list[str]:
    """The first `size` tag words of a word list in frequency order."""
    words: list[str] = []
    for word in frequency_ordered:
        if is_tag_word(word):
            words.append(word)
            if len(words) == size:
                break
    return words


def sentence_vocabulary(
    embed: Embed, words: Sequence[str], model_id: str, cache_dir: Path | None = None
) -> WordVectors:
    """`words` with their sentence vectors (unit rows), read from `cache_dir` when embedded before."""
    words = list(words)
    if cache_dir is None:
        return WordVectors(words=words, vectors=np.asarray(embed(words), dtype=np.float32))
    key = hashlib.sha256("\n".join([model_id, *words]).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"vocabulary-{key}.npy"
    if path.exists():
        return WordVectors(words=words, vectors=np.load(path))
    vectors = np.asarray(embed(words), dtype=np.float32)
    write_atomically(path, lambda staging: np.save(staging, vectors))
    return WordVectors(words=words, vectors=vectors)


def similar_words(
    vocabulary: WordVectors, query: np.ndarray, k: int = 10, exclude: frozenset[str] = frozenset()
) -> list[tuple[str, float]]:
    """The `k` vocabulary words nearest `query` (a unit vector) by cosine, as (word, cosine)."""
    scores = vocabulary.vectors @ np.asarray(query, dtype=np.float32)
    result: list[tuple[str, float]] = []
    for row in np.argsort(-scores, kind="stable"):
        word = vocabulary.words[row]
        if word not in exclude:
            result.append((word, float(scores[row])))
            if len(result) == k:
                break
    return result
