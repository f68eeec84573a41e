"""How well a trained head knows a query: the words of the texts it learnt from.

A head trained on a catalogue's descriptions ranks well for the words those descriptions used,
and knows nothing of the others (a head taught by photos of people and beaches maps a photo of a
sofa anywhere). Word search therefore gives the trained space a share that grows with how many
training items used each query word, and the zero-shot space the rest: `trained_share`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from ml.words import words_of

# Items using a word at which the trained side gets half the query, and below which the zero-shot
# space answers alone (a head that saw 5 sheep among 1,500 people and beaches ranks sheep badly);
# in a small catalogue that bar is a share of the items trained on instead. Measured on the dev
# photos (bench.learning_quality, docs/learning.md): half at 10 from 10 items kept Flickr P@10 at
# 0.472 (0.478 from 0 items, 0.442 from 20) and Pascal R-precision at 0.856 (0.789 from 0 items).
HALF_SHARE_ITEMS = 10
MIN_ITEMS = 10
MIN_SHARE_OF_ITEMS = 0.05
_IRREGULAR = {"children": "child", "men": "man", "women": "woman", "feet": "foot"}


def fold(word: str) -> str:
    """A crude plural fold (dogs -> dog, beaches -> beach, children -> child), enough to count words."""
    word = _IRREGULAR.get(word, word)
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def text_words(text: str) -> set[str]:
    return {fold(word) for word in words_of(text) if word.isalpha()}


def word_counts(texts: Iterable[str]) -> Counter:
    """In how many of `texts` (one per item) each folded word occurs."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(text_words(text))
    return counts


def minimum_items(trained_items: int) -> float:
    return min(MIN_ITEMS, MIN_SHARE_OF_ITEMS * trained_items)


def trained_share(query: str, counts: Mapping[str, int], half: int = HALF_SHARE_ITEMS, minimum: float = 0) -> float:
    """The trained space's share of a word query: n / (n + half) for the query's least used word
    (n items used it), 0 when n is below `minimum` (`minimum_items`) or the query has no words."""
    words = text_words(query)
    if not words:
        return 0.0
    used = min(counts.get(word, 0) for word in words)
    return used / (used + half) if used >= minimum else 0.0
