"""What every image encoder is and returns, whatever its runtime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

# Bounds peak memory when a caller hands over a large sequence at once.
BATCH_SIZE = 32


@dataclass(frozen=True)
class Encoding:
    features: np.ndarray  # (n, d) float32 pooled CNN features
    logits: np.ndarray  # (n, 1000) float32 ImageNet class scores


class EncoderUnavailable(RuntimeError):
    """The model's weights cannot be found or loaded; the message says how to fix it."""


class ImageEncoder(Protocol):
    name: str
    feature_dims: int

    def encode(self, images: Sequence[Image.Image]) -> Encoding: ...

    def classifier_weights(self) -> np.ndarray: ...
