"""What an image means in WordNet terms, and vectors for "more like this".

Tags and the meaning vector spread each class's probability over the class and its ancestors, so
that five uncertain dog breeds add up to a confident "dog". `visual_vectors`, `meaning_vectors`
and their `blend_vectors` are the three similarity modes measured on the development photos.
"""

from __future__ import annotations

import functools

import numpy as np

from ml.hierarchy import load_hierarchy
from ml.imagenet import CLASS_NAMES
from ml.vectors import unit_rows

# Nodes shared by more than this share of the 1000 classes are dropped from the meaning vector:
# "entity" (1000 classes), "physical entity" (997), "object" (958) and "whole" (949) hold almost
# the same mass for every image. The next node, "artifact" (522), already separates things.
MASS_MAX_SHARE = 0.9

# The meaning vector's coordinates, in order: the 1000 classes, then their ancestors by wnid.
MASS_NODES: tuple[str, ...] = load_hierarchy().nodes(MASS_MAX_SHARE)
MASS_DIMS = len(MASS_NODES)  # 1856; pgvector indexes `vector` columns of up to 2000 dims with HNSW


@functools.cache
def _membership() -> np.ndarray:
    """(1000, MASS_DIMS) 0/1: row c marks class c and each of its ancestors among MASS_NODES."""
    hierarchy = load_hierarchy()
    column = {wnid: position for position, wnid in enumerate(MASS_NODES)}
    matrix = np.zeros((len(hierarchy), MASS_DIMS), dtype=np.float32)
    for index, wnid in enumerate(hierarchy.wnids):
        for node in (wnid, *hierarchy.ancestors[index]):
            if node in column:
                matrix[index, column[node]] = 1.0
    matrix.setflags(write=False)
    return matrix


def wordnet_mass(probabilities: np.ndarray) -> np.ndarray:
    """(n, MASS_DIMS) float32: each node's share of the image's probability mass.

    `probabilities` is (n, 1000) softmax output (a single (1000,) row gives (1, MASS_DIMS)). Node
    j of row i is the summed probability of the classes that are node j or descend from it; the
    first 1000 coordinates are the class probabilities themselves. Compare `meaning_vectors`.
    """
    rows = np.atleast_2d(np.asarray(probabilities, dtype=np.float32))
    if rows.shape[-1] != len(CLASS_NAMES):
        raise ValueError(f"Expected {len(CLASS_NAMES)} class probabilities per row, got {rows.shape[-1]}.")
    return rows @ _membership()


def meaning_vectors(probabilities: np.ndarray) -> np.ndarray:
    """(n, MASS_DIMS) unit rows to compare by cosine ("more like this" by meaning).

    The square root of `wordnet_mass` (cosine then is the Hellinger affinity of the mass
    distributions): on the development photos it found more same-category neighbours than the
    raw mass (precision@10 0.824 against 0.806) and keeps a flipped, cropped copy nearest to its
    original (20 of 20; raw mass 19).
    """
    return unit_rows(np.sqrt(np.maximum(wordnet_mass(probabilities), 0.0)))


# Longest WordNet name looked for among consecutive query words ("dining table", "potted plant").
MAX_NAME_WORDS = 3


@functools.cache
def _nodes_named() -> dict[str, frozenset[str]]:
    """Lowercased synonym -> the MASS_NODES synsets it names ("cat" -> big cat, true cat). A few
    synsets are named in the plural only ("cattle, cows"): their singulars name them too, unless
    the singular is some synset's own name."""
    hierarchy = load_hierarchy()
    named: dict[str, set[str]] = {}
    plural_only: dict[str, set[str]] = {}
    for wnid in MASS_NODES:
        for synonym in hierarchy.names[wnid]:
            name = synonym.lower().replace("-", " ")
            named.setdefault(name, set()).add(wnid)
            *first, last = name.split()
            for singular in _singular_forms(last)[1:]:
                plural_only.setdefault(" ".join([*first, singular]), set()).add(wnid)
    for name, wnids in plural_only.items():
        named.setdefault(name, wnids)
    return {name: frozenset(wnids) for name, wnids in named.items()}


def _singular_forms(word: str) -> tuple[str, ...]:
    """The word, then plausible singulars (cows -> cow, buses -> bus, ponies -> pony)."""
    forms = [word]
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 3:
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        forms.append(word[:-1])
    return tuple(forms)


def synsets_named(phrase: str) -> frozenset[str]:
    """The MASS_NODES synsets a word or phrase names, trying singulars of its last word."""
    words = phrase.lower().replace("-", " ").split()
    if not words:
        return frozenset()
    named = _nodes_named()
    for last in _singular_forms(words[-1]):
        wnids = named.get(" ".join([*words[:-1], last]))
        if wnids:
            return wnids
    return frozenset()


def classes_named(phrase: str) -> list[int]:
    """The ImageNet classes under the synsets a word names ("cat": tabby, tiger cat, lion, …)."""
    wnids = synsets_named(phrase)
    return sorted(load_hierarchy().classes_under(wnids)) if wnids else []


def names_starting(prefix: str, *, limit: int = 10) -> list[str]:
    """WordNet names of whole kinds of things ("cat", "car", "cattle") that start with `prefix`."""
    needle = prefix.strip().lower()
    if not needle:
        return []
    return sorted((name for name in _nodes_named() if name.startswith(needle)), key=lambda n: (len(n), n))[:limit]


@functools.cache
def _prototype(wnids: frozenset[str]) -> np.ndarray:
    """The meaning vector of an image certain to show one of the classes under `wnids`, each
    equally likely: what "a sheep" means in the meaning space."""
    classes = sorted(load_hierarchy().classes_under(wnids))
    certain = np.zeros(len(CLASS_NAMES), dtype=np.float32)
    certain[classes] = 1.0 / len(classes)
    vector = meaning_vectors(certain)[0]
    vector.setflags(write=False)
    return vector


def named_meaning(terms: list[tuple[str, float]]) -> tuple[np.ndarray | None, list[str]]:
    """A meaning-space query vector for the (word, weight) terms that name WordNet synsets, and
    the names found; (None, []) when none does.

    Each name contributes its weight times the meaning vector of an image certain to show one of
    the classes it covers ("sheep" -> ram, bighorn): the cosine with a photo's meaning vector is
    then high for sheep, lower for other ungulates, and zero only for nothing alike. Consecutive
    words with one weight are read as one name when WordNet has it ("dining table"), longest first.
    """
    total = np.zeros(MASS_DIMS, dtype=np.float32)
    found: list[str] = []
    start = 0
    while start < len(terms):
        for length in range(min(MAX_NAME_WORDS, len(terms) - start), 0, -1):
            span = terms[start : start + length]
            if len({weight for _, weight in span}) > 1:
                continue
            phrase = " ".join(word for word, _ in span)
            wnids = synsets_named(phrase)
            if wnids:
                total += span[0][1] * _prototype(wnids)
                found.append(phrase)
                start += length
                break
        else:
            start += 1
    norm = float(np.linalg.norm(total))
    return (total / norm, found) if found and norm > 0 else (None, found)
