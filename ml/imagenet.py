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


def split_words(name: str) -> list[str]:
    """Lowercase words of a name, for word-vector lookup ("Tiger cat" -> ["tiger", "cat"])."""
    # Single letters ("o" in jack-o'-lantern) carry no meaning and have noisy vectors.
    return [word for word in _WORD_SPLIT.split(name.lower()) if len(word) > 1]


def class_words(index: int) -> list[str]:
    """Lowercase words of a class name, for word-vector lookup ("tiger cat" -> ["tiger", "cat"])."""
    return split_words(CLASS_NAMES[index])


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
