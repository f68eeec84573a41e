"""Word search and tags measured on the development photos: R-precision of the Pascal VOC words
and of WordNet hypernyms, a photo found by its own label, tags naming the photo's kind."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.dev_photos import DevSet
from bench.tag_metrics import image_tags
from ml.conse import softmax
from ml.hierarchy import load_hierarchy
from ml.imagenet import CLASS_NAMES, class_words, split_words
from ml.meaning import named_meaning
from ml.metrics import r_precision
from ml.words import WordVectors

# Word search: the meaning space's share against the word space when some query words name WordNet
# synsets (`ml.meaning.named_meaning`; the product reads WORD_MEANING_WEIGHT from its settings).
# Development photos, 20 Pascal words (R-precision, WordNet relevance):
# 0 -> 0.61, 0.3 -> 0.74, 0.5 -> 0.79, 0.6 -> 0.87, 0.7 -> 0.89, 0.8 -> 0.86, 1 -> 0.84; a photo
# found by its own label in the top 10: 0.948 (0), 0.964 (0.7), 0.936 (1). GloVe alone knows no
# ram is a sheep; WordNet alone cannot rank what it does not name, nor tell a rich label from a
# poor one. 0.7 is the top of both curves.
WORD_MEANING_WEIGHT = 0.7


Lookup = Callable[[list[str]], dict[str, np.ndarray]]
WordSearch = Callable[[str], "np.ndarray | None"]  # query text -> a score per dev photo, or None


# Pascal VOC category -> (query words, WordNet names or wnids whose hyponyms are relevant). Most
# categories are their own query and WordNet name; the exceptions are spelled out.
SELF_NAMED = ("bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "dog", "horse", "person")
SELF_NAMED += ("sheep", "sofa", "train")
PASCAL_WORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    **{word: (word, (word,)) for word in SELF_NAMED},
    "aeroplane": ("airplane", ("airplane",)),
    "diningtable": ("dining table", ("dining table",)),
    "motorbike": ("motorbike", ("n03790512",)),  # motorcycle
    "pottedplant": ("potted plant", ("n03991062",)),  # pot, flowerpot
    "tvmonitor": ("tv monitor", ("n04404412", "n03782006", "n03211117")),  # television, monitor, display
}


def query_vector(lookup: Lookup, text: str) -> np.ndarray | None:
    """As the website builds a word query: the normalised sum of the known words' unit vectors."""
    found = lookup(split_words(text))
    if not found:
        return None
    total = sum(vector / np.linalg.norm(vector) for vector in found.values())
    return total / np.linalg.norm(total)


def relevant_classes(names: tuple[str, ...]) -> frozenset[int]:
    hierarchy = load_hierarchy()
    wnids = {name for name in names if name[:1] == "n" and name[1:].isdigit()}
    by_name = [hierarchy.classes_named(name) for name in names if name not in wnids]
    return hierarchy.classes_under(wnids).union(*by_name)


def word_search(
    joint: np.ndarray, lookup: Lookup, meaning: np.ndarray | None = None, weight: float = WORD_MEANING_WEIGHT
) -> WordSearch:
    """Word search as the website ranks it (semantic mode): cosine to the words' vector over the
    photos' word-space vectors `joint`, blended with the meaning-space cosine (share `weight`)
    when `meaning` vectors are given and some words name WordNet synsets."""

    def scores(text: str) -> np.ndarray | None:
        words = query_vector(lookup, text)
        named = named_meaning([(word, 1.0) for word in split_words(text)])[0] if meaning is not None else None
        if named is None:
            return None if words is None else joint @ words
        if words is None:
            return meaning @ named
        return (1 - weight) * (joint @ words) + weight * (meaning @ named)

    return scores


def pascal_r_precision(search: WordSearch, dev: DevSet, by: str = "wordnet") -> dict[str, float | None]:
    """R-precision of each Pascal word; relevance by WordNet hyponymy (`by="wordnet"`) or by the
    photos' `pascal_category` (`by="pascal"`). None: no relevant photo."""
    results: dict[str, float | None] = {}
    for category, (text, names) in PASCAL_WORDS.items():
        scores = search(text)
        relevant = np.isin(dev.classes, list(relevant_classes(names))) if by == "wordnet" else dev.pascal == category
        results[category] = None if scores is None else r_precision(scores, relevant, cap=10)
    return results


def mean_defined(values: dict[str, float | None]) -> float:
    return float(np.mean([value for value in values.values() if value is not None]))


def label_search(search: WordSearch, dev: DevSet, k: int = 10) -> tuple[float, float]:
    """Share of photos within the top `k` when searching their own class label: over all photos,
    and over those whose label the search understands."""
    hits, known = 0, 0
    for row, index in enumerate(dev.classes):
        scores = search(" ".join(class_words(index)))
        if scores is None:
            continue
        known += 1
        hits += int((scores > scores[row]).sum()) < k
    return hits / len(dev.classes), hits / known


def hypernym_r_precision(search: WordSearch, dev: DevSet, words: WordVectors, frequent: int = 20_000) -> float:
    """Mean R-precision for the names of WordNet ancestors (one frequent word, e.g. "snake",
    "truck") that cover at least one photo, Pascal words excluded: word search beyond Pascal."""
    hierarchy = load_hierarchy()
    common = set(words.words[:frequent])
    pascal = {w for text, names in PASCAL_WORDS.values() for w in (*split_words(text), *names)}
    ancestors = {wnid for chain in hierarchy.ancestors for wnid in chain}
    values = []
    for name in sorted({hierarchy.name(wnid).lower() for wnid in ancestors} & common - pascal):
        relevant = np.isin(dev.classes, list(hierarchy.classes_named(name)))
        scores = search(name)
        if relevant.any() and scores is not None:
            values.append(r_precision(scores, relevant, cap=10))
    return float(np.mean(values))


def tag_hits(dev: DevSet, first: int = 5) -> tuple[float, float]:
    """Share of photos whose first tags include their label or a basic-level ancestor name, and
    share that include the label itself."""
    hierarchy = load_hierarchy()
    probabilities = softmax(dev.logits)
    any_hit, label_hit = 0, 0
    for row, index in enumerate(dev.classes):
        tags = [tag for tag, _ in image_tags(probabilities[row], first)]
        label = CLASS_NAMES[index].lower()
        any_hit += bool({label, *hierarchy.basic_level_names(index)} & set(tags))
        label_hit += label in tags
    return any_hit / len(dev.classes), label_hit / len(dev.classes)
