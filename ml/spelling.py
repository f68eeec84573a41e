"""Spelling help and as-you-type suggestions, weighted by how common a word is.

Pure functions over a word list in priority order (most common first): the caller puts the
catalogue's own words first (by how many items use them), then the language's (GloVe's frequency
order), e.g. with `priority_words`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from rapidfuzz import process
from rapidfuzz.distance import OSA

from ml.hierarchy import load_hierarchy
from ml.words import is_tag_word

# A typo's cost: edits (a swap of neighbours counts one, as in "dgo"), plus this when the first
# letter differs (people rarely miss the first letter: "hrose" is horse, not rose), plus this per
# decade of the word's rank (a common word beats a rare one at equal edits, never a closer word).
FIRST_LETTER_COST = 0.5
RANK_COST_PER_DECADE = 0.2


def max_edits(word: str) -> int:
    """Edits allowed for a word this long: one up to four letters, two from five ("bycicle")."""
    return 1 if len(word) <= 4 else 2


def corrections(word: str, words: Sequence[str], k: int = 3) -> list[str]:
    """Up to `k` known words `word` may be a misspelling of, likeliest first; [] for a known word.

    `words` is in priority order. dgo -> dog, bycicle -> bicycle, ocaen -> ocean, hrose -> horse.
    """
    typed = word.strip().lower()
    if not typed or typed in words:
        return []
    found = process.extract(typed, words, scorer=OSA.distance, score_cutoff=max_edits(typed), limit=None)

    def cost(match: tuple[str, float, int]) -> float:
        candidate, edits, rank = match
        return edits + FIRST_LETTER_COST * (candidate[:1] != typed[:1]) + RANK_COST_PER_DECADE * math.log10(rank + 1)

    return [candidate for candidate, _, _ in sorted(found, key=cost)[:k]]


def suggestions(prefix: str, words: Sequence[str], k: int = 8) -> list[str]:
    """The first `k` words of `words` (priority order) that start with `prefix`: "sof" -> sofa."""
    typed = prefix.strip().lower()
    if not typed:
        return []
    matches: list[str] = []
    for word in words:
        if word.startswith(typed) and word != typed:
            matches.append(word)
            if len(matches) == k:
                break
    return matches


def picture_names() -> frozenset[str]:
    """One-word names of the ImageNet classes and their WordNet ancestors: words that name
    what photos show (dog, sofa, bicycle), which the catalogue is likely to hold."""
    hierarchy = load_hierarchy()
    return frozenset(name for wnid in hierarchy.names for name in hierarchy.one_word_names(wnid))


def priority_words(
    catalogue_words: Iterable[str], language_words: Sequence[str], boosted: frozenset[str] = frozenset()
) -> list[str]:
    """One list in priority order: the catalogue's words (most used first), then the language's
    words that are in `boosted` (e.g. `picture_names()`), then the other language words; each
    once, tag words only (`is_tag_word`)."""
    language = [word for word in language_words if is_tag_word(word)]
    ordered = [*catalogue_words, *(w for w in language if w in boosted), *(w for w in language if w not in boosted)]
    return [word for word in dict.fromkeys(ordered) if is_tag_word(word)]
