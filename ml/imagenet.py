"""ImageNet-1k class names, shared by every encoder (they all emit the same 1000 logits)."""

from __future__ import annotations

import re
from pathlib import Path

# The canonical human-readable names, as torchvision ships them
# (`VGG16_Weights.IMAGENET1K_V1.meta["categories"]`), copied so that reading them needs no torch.
# The index order matches every ImageNet-1k classifier head, including EfficientNet-Lite0's.
CLASS_NAMES: list[str] = (Path(__file__).parent / "data" / "imagenet_classes.txt").read_text().splitlines()
NUM_CLASSES = len(CLASS_NAMES)


def check_class_index(index: int) -> int:
    """`index` if it names an ImageNet class, else ValueError with a message for the user."""
    if not 0 <= index < NUM_CLASSES:
        raise ValueError(f"Class numbers go from 0 to {NUM_CLASSES - 1}.")
    return index


_WORD_SPLIT = re.compile(r"[\s\-']+")

# Broad words for big groups of ImageNet's (WordNet-ordered) classes. 118 dog breeds with names
# like "Dandie Dinmont" have word vectors nowhere near "dog"; without the group word a search
# for "dog" would miss most dog photos. Index ranges follow the WordNet hierarchy of ImageNet-1k.
CLASS_GROUPS: dict[str, tuple[range, ...]] = {
    "fish": (range(0, 7), range(389, 398)),
    "bird": (range(7, 25), range(80, 101), range(127, 147)),
    "snake": (range(52, 69),),
    "dog": (range(151, 269),),
    "cat": (range(281, 286),),
    "monkey": (range(369, 383),),
}


def class_words(index: int) -> list[str]:
    """Lowercase words of a class name, for word-vector lookup ("tiger cat" -> ["tiger", "cat"])."""
    # Single letters ("o" in jack-o'-lantern) carry no meaning and have noisy vectors.
    return [word for word in _WORD_SPLIT.split(CLASS_NAMES[index].lower()) if len(word) > 1]


def class_group(index: int) -> str | None:
    """The broad word for a class's group ("Dandie Dinmont" -> "dog"), if it has one."""
    return next((word for word, ranges in CLASS_GROUPS.items() if any(index in r for r in ranges)), None)


def matching_classes(query: str, limit: int = 20) -> list[tuple[int, str]]:
    """Classes whose name contains `query` (case-insensitive), prefix matches first."""
    needle = query.strip().lower()
    if not needle:
        return []
    prefix: list[tuple[int, str]] = []
    inner: list[tuple[int, str]] = []
    for index, name in enumerate(CLASS_NAMES):
        lowered = name.lower()
        if lowered.startswith(needle):
            prefix.append((index, name))
        elif needle in lowered:
            inner.append((index, name))
    return (prefix + inner)[:limit]
