"""Tags that are right and specific: "hedging your bets" (Deng et al., CVPR 2012) over WordNet.

Every ImageNet class and every informative, basic-level ancestor ("dog", "terrier", "cat") is a
candidate tag; its probability is the summed probability of the classes under it, so "dog" is
surer than any one breed. A node's reward is the information it gives, log2(1000 / classes under
it): a class says most, "dog" (118 classes) little. The first tag is the best bet, the node of
highest expected reward (reward + lambda) x probability: a small lambda prefers the specific name,
a large one the sure kind, and lambda is chosen (`hedge_lambda`) so that the first tag is right at
a chosen accuracy. The specific names follow, then their kinds (ancestors), each by expected reward.
A tag of another kind than the first (no common ancestor tag) needs `OTHER_KIND_PROBABILITY`, so a
photo of a cat is not completed with a dog breed the model gives 3% to.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.hierarchy import MAX_INFORMATIVE_CLASSES, load_hierarchy
from ml.imagenet import CLASS_NAMES
from ml.words import STOP_WORDS

# Measured on the ImageNet dev photos (python -m bench.measure_words): with lambda 0 the first tag
# is the class or a kind of it for 91.4% (the classifier's top class alone: 88.6%) and the class
# itself for 81.6%; lambda 1 and 4 trade 3 and 6 points of the latter for 0.4 and 1.4 of the former.
HEDGE_LAMBDA = 0.0
# The first tag must reach MIN_TAG_PROBABILITY (else the image gets no tags). Then come names of
# the same kind as the first tag (a common WordNet ancestor tag: two dog breeds, a breed and
# "terrier") from SAME_KIND_PROBABILITY, and names of another kind only from
# OTHER_KIND_PROBABILITY: a second thing must be likelier than not to be shown. Dev photos:
# 0.2 / 0.02 / 0.5 keep other kinds out of the first five tags for 94.2% (93.6% at 0.3 / 0.5;
# 76% when every node over 0.05 is shown) with the class among them for 91.8%.
MIN_TAG_PROBABILITY = 0.2
SAME_KIND_PROBABILITY = 0.02
OTHER_KIND_PROBABILITY = 0.5


@dataclass(frozen=True)
class Tag:
    name: str  # lowercased: the class label ("tiger cat") or the ancestor's first name ("cat")
    wnid: str
    probability: float  # the summed probability of the classes that are this node or under it


@dataclass(frozen=True)
class TagNodes:
    names: tuple[str, ...]
    wnids: tuple[str, ...]
    membership: np.ndarray  # (1000, nodes) 0/1: class c is node j or descends from it
    reward: np.ndarray  # (nodes,) information gain in bits, log2(classes / classes under the node)
    within: np.ndarray  # (nodes, nodes) bool: every class under node i is under node j


@functools.cache
def tag_nodes(max_classes: int = MAX_INFORMATIVE_CLASSES) -> TagNodes:
    """The 1000 classes (in class order), then their basic-level ancestors covering at most
    `max_classes` classes, by wnid."""
    hierarchy = load_hierarchy()
    ancestors = sorted(
        {wnid for index in range(len(hierarchy)) for wnid in hierarchy.basic_level_ancestors(index, max_classes)}
        - set(hierarchy.wnids)
    )
    ancestors = [wnid for wnid in ancestors if hierarchy.name(wnid).lower() not in STOP_WORDS]
    wnids = (*hierarchy.wnids, *ancestors)
    names = (*(label.lower() for label in CLASS_NAMES), *(hierarchy.name(wnid).lower() for wnid in ancestors))
    column = {wnid: position for position, wnid in enumerate(wnids)}
    membership = np.zeros((len(hierarchy), len(wnids)), dtype=np.float32)
    for index, wnid in enumerate(hierarchy.wnids):
        for node in (wnid, *hierarchy.ancestors[index]):
            if node in column:
                membership[index, column[node]] = 1.0
    sizes = membership.sum(axis=0)
    reward = np.log2(len(hierarchy) / sizes)
    within = (membership.T @ membership) == sizes[:, None]
    for frozen in (membership, reward, within):
        frozen.setflags(write=False)
    return TagNodes(names=names, wnids=wnids, membership=membership, reward=reward, within=within)


def _rows(probabilities: np.ndarray) -> np.ndarray:
    rows = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    if rows.shape[-1] != len(CLASS_NAMES):
        raise ValueError(f"Expected {len(CLASS_NAMES)} class probabilities per row, got {rows.shape[-1]}.")
    return rows


def hedged_order(probabilities: np.ndarray, hedge_lambda: float, nodes: TagNodes) -> tuple[np.ndarray, np.ndarray]:
    """(node probabilities (n, nodes), node indices (n, nodes) by expected reward, best first)."""
    mass = _rows(probabilities) @ nodes.membership
    expected = (nodes.reward + hedge_lambda) * mass
    return mass, np.argsort(-expected, axis=1, kind="stable")


def hedged_tags(
    probabilities_row: np.ndarray,
    k: int = 5,
    *,
    hedge_lambda: float = HEDGE_LAMBDA,
    min_probability: float = MIN_TAG_PROBABILITY,
    same_kind_probability: float = SAME_KIND_PROBABILITY,
    other_kind_probability: float = OTHER_KIND_PROBABILITY,
    max_classes: int = MAX_INFORMATIVE_CLASSES,
) -> list[Tag]:
    """Up to `k` tags of one image (softmax output, (1000,)): the best bet (highest expected
    reward), then the classes by expected reward, then the ancestor names; each after the first
    only if likely enough for its kind (see OTHER_KIND_PROBABILITY).

    Chelsea (tiger cat 0.38, egyptian cat 0.38, tabby 0.17) -> cat, tiger cat, egyptian cat, tabby,
    feline: "cat" is almost sure (0.94) and says enough, each breed is a coin toss. A sure zebra
    -> zebra, equine, ungulate. Fewer than `k` come back when fewer are likely enough.
    """
    nodes = tag_nodes(max_classes)
    mass, order = hedged_order(probabilities_row, hedge_lambda, nodes)
    mass, order = mass[0], order[0]
    best = int(order[0])
    if mass[best] < min_probability:
        return []
    # The kinds of the best bet: the ancestor tags it lies within (for "dog": "dog" itself).
    kinds = nodes.within[best] & (np.arange(len(nodes.names)) >= len(CLASS_NAMES))
    classes_first = sorted(order[1:], key=lambda node: node >= len(CLASS_NAMES))  # stable: keeps the order
    chosen = [best]
    names = {nodes.names[best]}
    for node in classes_first:
        if len(chosen) == k:
            break
        related = bool((nodes.within[node] & kinds).any()) or nodes.within[best, node] or nodes.within[node, best]
        if mass[node] < (same_kind_probability if related else other_kind_probability) or nodes.names[node] in names:
            continue
        chosen.append(int(node))
        names.add(nodes.names[node])
    return [Tag(name=nodes.names[n], wnid=nodes.wnids[n], probability=round(float(mass[n]), 4)) for n in chosen]


def first_tag_accuracy(probabilities: np.ndarray, classes: Sequence[int], hedge_lambda: float) -> float:
    """Share of images whose best bet (the first tag) is their class or one of its ancestors."""
    nodes = tag_nodes()
    _, order = hedged_order(probabilities, hedge_lambda, nodes)
    best = order[:, 0]
    return float(nodes.membership[np.asarray(classes), best].mean())


def hedge_lambda(probabilities: np.ndarray, classes: Sequence[int], accuracy: float, upper: float = 64.0) -> float:
    """The smallest lambda (to 0.01) whose first tags reach `accuracy` on these labelled images,
    found by bisection as in Deng et al. (accuracy grows with lambda); `upper` if none does."""
    if first_tag_accuracy(probabilities, classes, 0.0) >= accuracy:
        return 0.0
    low, high = 0.0, upper
    while high - low > 0.01:
        middle = (low + high) / 2
        if first_tag_accuracy(probabilities, classes, middle) >= accuracy:
            high = middle
        else:
            low = middle
    return round(high, 2)
