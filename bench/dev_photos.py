"""The 500 development photos, encoded once and cached: what the development measurements and the
scale benchmark draw on."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageOps

REPOSITORY = Path(__file__).resolve().parent.parent
DATASET_NAME = "shared/datasets/imagenet-sample-dev"
ENCODINGS_CACHE = REPOSITORY / ".local" / "dev_encodings.npz"


def default_dataset() -> Path:
    """$DEV_DATASET, else the development photos beside the project (../shared)."""
    if os.environ.get("DEV_DATASET"):
        return Path(os.environ["DEV_DATASET"])
    return REPOSITORY.parent / DATASET_NAME


class Encoder(Protocol):
    def encode(self, images: Sequence[Image.Image]) -> Any: ...  # features (n, d), logits (n, 1000)


@dataclass(frozen=True)
class DevSet:
    classes: np.ndarray  # (n,) ImageNet class index of each photo
    pascal: np.ndarray  # (n,) Pascal VOC category or ""
    features: np.ndarray  # (n, d)
    logits: np.ndarray  # (n, 1000)
    copy_rows: np.ndarray  # (m,) photos of which a flipped, cropped copy was encoded
    copy_features: np.ndarray
    copy_logits: np.ndarray


def flipped_crop(picture: Image.Image) -> Image.Image:
    """The photo mirrored, with 10% cut off its left and top."""
    width, height = picture.size
    return ImageOps.mirror(picture).crop((width // 10, height // 10, width, height))


def lite0_encoder() -> Encoder:
    """EfficientNet-Lite0 in torch (imported here: torch is needed only when there is no cache)."""
    from ml.torch_encoders import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder()


def load_dev_set(dataset: Path, cache: Path | None = None, encoder: Encoder | None = None) -> DevSet:
    """Encode the development photos with `encoder` (default EfficientNet-Lite0), or read the
    cache written before."""
    if cache is not None and cache.exists():
        saved = np.load(cache)
        return DevSet(*(saved[field] for field in DevSet.__dataclass_fields__))
    from ml.images import open_image

    with (dataset / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    pictures = [open_image((dataset / row["file"]).read_bytes()) for row in rows]
    encoder = encoder or lite0_encoder()
    encoding = encoder.encode(pictures)
    copy_rows = np.arange(0, len(rows), 25)
    copies = encoder.encode([flipped_crop(pictures[row]) for row in copy_rows])
    dev = DevSet(
        classes=np.array([int(row["imagenet_index"]) for row in rows]),
        pascal=np.array([row["pascal_category"] for row in rows]),
        features=encoding.features,
        logits=encoding.logits,
        copy_rows=copy_rows,
        copy_features=copies.features,
        copy_logits=copies.logits,
    )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, **dev.__dict__)
    return dev
