"""Tag metrics on the ImageNet dev photos: is the photo's own class (or a synonym) the first tag,
among the first five, and is no tag among the first five of another basic-level kind?

A tag node is of another kind than the photo's class c when it is not c or an ancestor of c, and
no "kind" node of c covers it: c's basic-level ancestors ("dog", "cat", "snake") and its
informative ancestors covering at most KIND_MAX_CLASSES classes (for classes whose kinds WordNet
names with compounds: "musteline mammal" for weasel, mink). So a tabby tagged "tiger cat" or a
Maltese tagged "terrier" is fine; a cat tagged "dog", a cello tagged "guitar" is not.
"""

from __future__ import annotations

import functools

import numpy as np

from ml.hierarchy import MAX_INFORMATIVE_CLASSES, load_hierarchy
from ml.imagenet import CLASS_NAMES
from ml.tags import first_tag_accuracy, hedge_lambda, hedged_tags, tag_nodes
from ml.words import STOP_WORDS


# The tags before hedging (summed probability over the top classes and their kinds), kept here
# as the baseline the hedged tags are measured against.
@functools.cache
def _tag_sources(max_classes: int) -> tuple[tuple[tuple[str, int], ...], ...]:
    """Per class: (tag, breadth) for the class itself (breadth 0) and for its basic-level ancestors
    (breadth: the number of classes under it)."""
    hierarchy = load_hierarchy()
    sources = []
    for index in range(len(hierarchy)):
        tags = [(CLASS_NAMES[index].lower(), 0)]
        for wnid in hierarchy.basic_level_ancestors(index, max_classes):
            name = hierarchy.name(wnid).lower()
            if name not in STOP_WORDS:
                tags.append((name, hierarchy.coverage[wnid]))
        sources.append(tuple(tags))
    return tuple(sources)


# Tags come from the image's most probable classes only (as ConSE uses its top 10) and must reach
# this summed probability; the caller completes short lists (e.g. with nearest vocabulary words).
TAG_TOP_CLASSES = 10
TAG_MIN_SCORE = 0.05


def image_tags(
    probabilities_row: np.ndarray,
    k: int = 10,
    *,
    top_classes: int = TAG_TOP_CLASSES,
    min_score: float = TAG_MIN_SCORE,
    max_classes: int = MAX_INFORMATIVE_CLASSES,
) -> list[tuple[str, float]]:
    """Up to `k` (tag, score) pairs describing one image, best first.

    Tags are the lowercased names of the image's `top_classes` most probable classes ("tiger cat",
    "egyptian cat") and of their informative ancestors whose first name is one word ("cat",
    "feline"; compound inner names such as "domestic cat" or "odd-toed ungulate" are skipped). A
    tag's score is the summed probability of those classes that carry it: how likely the image shows
    a kind of that thing. Tags scoring under `min_score` are left out, so fewer than `k` may come
    back. Ranking is by score to the percent, then the more specific tag (a class before any
    ancestor, then fewer classes under it), then exact score, then alphabetically: chelsea (tiger
    cat 0.38, egyptian cat 0.38, tabby 0.17, lynx 0.02) -> cat 0.94, feline 0.94, tiger cat,
    egyptian cat, tabby; a sure zebra -> zebra, equine, ungulate.
    """
    probabilities = np.asarray(probabilities_row, dtype=np.float64).ravel()
    if probabilities.shape != (len(CLASS_NAMES),):
        raise ValueError(f"Expected {len(CLASS_NAMES)} class probabilities, got shape {probabilities.shape}.")
    sources = _tag_sources(max_classes)
    scores: dict[str, float] = {}
    breadth: dict[str, int] = {}
    for index in np.argsort(-probabilities, kind="stable")[:top_classes]:
        # A set: a class that reaches one name by two paths counts once.
        for tag, covered in set(sources[index]):
            scores[tag] = scores.get(tag, 0.0) + float(probabilities[index])
            breadth[tag] = min(breadth.get(tag, covered), covered)
    ranked = sorted(scores, key=lambda tag: (-round(scores[tag], 2), breadth[tag], -scores[tag], tag))
    return [(tag, round(scores[tag], 4)) for tag in ranked if scores[tag] >= min_score][:k]


KIND_MAX_CLASSES = 20


def own_names(index: int) -> set[str]:
    hierarchy = load_hierarchy()
    return {name.lower() for name in hierarchy.class_names(index)} | {tag_nodes().names[index]}


def _kind_columns(index: int) -> list[int]:
    hierarchy, nodes = load_hierarchy(), tag_nodes()
    column = {wnid: position for position, wnid in enumerate(nodes.wnids)}
    kinds = (*hierarchy.basic_level_ancestors(index), *hierarchy.informative_ancestors(index, KIND_MAX_CLASSES))
    return [column[wnid] for wnid in kinds if wnid in column]


def other_kind(tag_wnid: str, index: int) -> bool:
    nodes = tag_nodes()
    node = nodes.wnids.index(tag_wnid)
    members = nodes.membership
    if members[index, node]:
        return False
    return not any(np.all(members[:, kind] >= members[:, node]) for kind in _kind_columns(index))


def tag_scores(tag_lists: list[list[tuple[str, str | None]]], classes: np.ndarray) -> tuple[float, float, float]:
    """(own class first, own class in the first five, no other kind in the first five); each tag
    is (name, wnid or None when the tag names no node: then its kind is judged by name only)."""
    first = five = clean = 0
    nodes = tag_nodes()
    by_name = {name: wnid for name, wnid in zip(reversed(nodes.names), reversed(nodes.wnids), strict=True)}
    for tags, index in zip(tag_lists, classes, strict=True):
        names = [name for name, _ in tags[:5]]
        own = own_names(int(index))
        first += bool(names) and names[0] in own
        five += bool(own & set(names))
        wnids = [wnid or by_name.get(name) for name, wnid in tags[:5]]
        clean += not any(wnid is not None and other_kind(wnid, int(index)) for wnid in wnids)
    return first / len(classes), five / len(classes), clean / len(classes)


def print_tag_table(probabilities: np.ndarray, classes: np.ndarray) -> None:
    print("Tags on the ImageNet dev photos (p >= first / same kind / other kind):")
    print("  own class first | own class in first 5 | no other kind in first 5")
    today = [[(name, None) for name, _ in image_tags(row, 5)] for row in probabilities]
    print(f"  {'today (meaning.image_tags)':38s} {'{:.3f} | {:.3f} | {:.3f}'.format(*tag_scores(today, classes))}")
    settings = [(0.0, 0.2, 0.02, 0.5), (0.0, 0.1, 0.02, 0.5), (0.0, 0.2, 0.02, 0.3), (0.0, 0.2, 0.05, 0.2)]
    settings += [(0.0, 0.05, 0.05, 0.05), (1.0, 0.2, 0.02, 0.5), (4.0, 0.2, 0.02, 0.5)]
    for hedge, first, same, other in settings:
        tags = [
            [
                (t.name, t.wnid)
                for t in hedged_tags(
                    row,
                    5,
                    hedge_lambda=hedge,
                    min_probability=first,
                    same_kind_probability=same,
                    other_kind_probability=other,
                )
            ]
            for row in probabilities
        ]
        label = f"hedged lambda={hedge:g} p>={first:g}/{same:g}/{other:g}"
        print(f"  {label:38s} {'{:.3f} | {:.3f} | {:.3f}'.format(*tag_scores(tags, classes))}")
    for accuracy in (0.9, 0.95):
        chosen = hedge_lambda(probabilities, classes, accuracy)
        reached = first_tag_accuracy(probabilities, classes, chosen)
        print(f"  first tag right (class or ancestor) >= {accuracy}: lambda {chosen} ({reached:.3f})")
