"""The WordNet hierarchy of the ImageNet-1k classes, read from the small text files in `ml/data/`.

Every ImageNet-1k class is a WordNet noun synset; its ancestors (hypernyms, walked breadth-first
over all is-a parents, nearest first) say that a "sorrel" is a horse, a "ram" a sheep and a
"studio couch" a sofa. Ancestors near the root ("entity", "object", "artifact", "organism") cover
most classes and say nothing; `informative_ancestors` keeps the others.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_NOT_ONE_WORD = re.compile(r"[\s\-']")

DATA_DIR = Path(__file__).resolve().parent / "data"
CLASSES_FILE = DATA_DIR / "imagenet_hierarchy.tsv"
SYNSETS_FILE = DATA_DIR / "wordnet_synsets.tsv"

# An ancestor shared by more than this many of the 1000 classes is too broad to describe an image
# or to place it in word space. 118 is "dog", the broadest basic-level node; the next ones are
# "domestic animal" (123), "canine" and "device" (130), "carnivore" (158), "mammal" (218),
# "animal" (398), "artifact" (522). On the development photos word search is flat from 118 to 300
# (broader one-word names add little), while below 118 the query "dog" finds 2 dogs in its top 10
# instead of 10. Tags stay specific with the lowest value that keeps "dog".
MAX_INFORMATIVE_CLASSES = 118


@dataclass(frozen=True)
class Hierarchy:
    """Class index -> wnid, synonyms and ancestors; wnid -> synonyms and how many classes it covers."""

    wnids: tuple[str, ...]  # class index -> wnid (ImageNet-1k order: the sorted wnids)
    names: dict[str, tuple[str, ...]]  # wnid -> synonyms, most common first (class or ancestor)
    ancestors: tuple[tuple[str, ...], ...]  # class index -> ancestor wnids, nearest first
    coverage: dict[str, int]  # wnid -> number of classes that are it or descend from it

    def __len__(self) -> int:
        return len(self.wnids)

    def name(self, wnid: str) -> str:
        """A synset's first (most common) name, as WordNet spells it ("domestic cat", "German shepherd")."""
        return self.names[wnid][0]

    def one_word_names(self, wnid: str) -> tuple[str, ...]:
        """A synset's one-word synonyms, lowercased, most common first ("big cat, cat" -> "cat").

        Basic-level names are single words (dog, horse, sofa); WordNet's compound names for inner
        nodes ("odd-toed ungulate", "heavier-than-air craft") are technical and make poor tags or
        word vectors.
        """
        return tuple(name.lower() for name in self.names[wnid] if len(name) > 1 and not _NOT_ONE_WORD.search(name))

    def class_names(self, index: int) -> tuple[str, ...]:
        """The synonyms of a class ("sofa" is not one of "studio couch"'s; see `ancestors`): the
        names its sentence-space prototype is built from (ml.prototypes)."""
        return self.names[self.wnids[index]]

    def informative_ancestors(self, index: int, max_classes: int = MAX_INFORMATIVE_CLASSES) -> tuple[str, ...]:
        """A class's ancestors that cover at most `max_classes` classes, nearest first."""
        return tuple(wnid for wnid in self.ancestors[index] if self.coverage[wnid] <= max_classes)

    def basic_level_ancestors(self, index: int, max_classes: int = MAX_INFORMATIVE_CLASSES) -> tuple[str, ...]:
        """The informative ancestors whose first name is one word, nearest first (tabby -> cat,
        feline; "domestic cat" is skipped). Later synonyms are often technical ("teleost fish,
        teleost"), so only the first name counts."""
        return tuple(
            wnid
            for wnid in self.informative_ancestors(index, max_classes)
            if self.one_word_names(wnid)[:1] == (self.name(wnid).lower(),)
        )

    def basic_level_names(self, index: int, max_classes: int = MAX_INFORMATIVE_CLASSES) -> list[str]:
        """Lowercased names of `basic_level_ancestors`: sorrel -> horse, equine, ungulate."""
        return [self.name(wnid).lower() for wnid in self.basic_level_ancestors(index, max_classes)]

    def classes_named(self, name: str) -> frozenset[int]:
        """Classes that `name` (any synonym, case-insensitive) names: the class itself or an ancestor.

        This is WordNet's answer to "is this class a kind of `name`?": "horse" -> {sorrel}.
        """
        wanted = name.strip().lower()
        return self.classes_under(
            wnid for wnid, synonyms in self.names.items() if wanted in (s.lower() for s in synonyms)
        )

    def classes_under(self, wnids: Iterable[str]) -> frozenset[int]:
        """Classes that are one of the synsets `wnids` or descend from one (hyponyms)."""
        wanted = set(wnids)
        return frozenset(
            index
            for index, wnid in enumerate(self.wnids)
            if wnid in wanted or not wanted.isdisjoint(self.ancestors[index])
        )

    def nodes(self, max_share: float = 1.0) -> tuple[str, ...]:
        """Every synset (the 1000 classes in class order, then ancestors by wnid) that covers at most
        `max_share` of the classes."""
        classes = set(self.wnids)
        others = sorted(wnid for wnid in self.coverage if wnid not in classes)
        limit = max_share * len(self.wnids)
        return tuple(wnid for wnid in (*self.wnids, *others) if self.coverage[wnid] <= limit)


def _rows(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines[1:] if line]  # the first line is the header


@functools.cache
def load_hierarchy() -> Hierarchy:
    """The hierarchy shipped in `ml/data/` (read once per process)."""
    names = {wnid: tuple(name.strip() for name in synonyms.split(",")) for wnid, synonyms in _rows(SYNSETS_FILE)}
    wnids: list[str] = []
    ancestors: list[tuple[str, ...]] = []
    for number, (index, wnid, _label, parents) in enumerate(_rows(CLASSES_FILE)):
        if int(index) != number:
            raise ValueError(f"{CLASSES_FILE}: class {index} is on line {number + 2}; expected {number}.")
        wnids.append(wnid)
        ancestors.append(tuple(parents.split()))
    coverage: dict[str, int] = dict.fromkeys(wnids, 1)
    for chain in ancestors:
        for wnid in set(chain):
            coverage[wnid] = coverage.get(wnid, 0) + 1
    missing = set(coverage) - set(names)
    if missing:
        raise ValueError(f"{SYNSETS_FILE}: no names for {', '.join(sorted(missing)[:5])}.")
    return Hierarchy(wnids=tuple(wnids), names=names, ancestors=tuple(ancestors), coverage=coverage)
