"""ImageNet-1k class names, shared by every encoder (they all emit the same 1000 logits)."""

from __future__ import annotations

import re

from torchvision.models import VGG16_Weights

# torchvision ships the canonical human-readable names; the index order matches every
# ImageNet-1k classifier head, including EfficientNet-Lite0's.
CLASS_NAMES: list[str] = list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])

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
