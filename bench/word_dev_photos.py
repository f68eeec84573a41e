"""The development photos (ImageNet dev + Flickr8k dev) encoded once with the project's default
encoder (EfficientNet-Lite0 in ONNX Runtime), cached in .local/ so that reruns take seconds."""

from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.conse import softmax
from ml.meaning import meaning_vectors

REPOSITORY = Path(__file__).resolve().parent.parent
# shared/ sits beside the main checkout; worktrees are one level deeper.
DATASETS = next(
    (folder / "shared" / "datasets" for folder in REPOSITORY.parents if (folder / "shared" / "datasets").is_dir()),
    REPOSITORY.parent / "shared" / "datasets",
)
LOCAL = REPOSITORY / ".local"


@dataclass
class DevPhotos:
    """ImageNet dev photos first (rows 0..n_imagenet-1), then the Flickr8k photos."""

    features: np.ndarray  # (n, 1280)
    logits: np.ndarray  # (n, 1000)
    classes: np.ndarray  # (n_imagenet,) ImageNet class index of each ImageNet photo
    pascal: np.ndarray  # (n_imagenet,) Pascal VOC category or ""
    labels: list[str]  # (n_imagenet,) ImageNet label of each ImageNet photo
    captions: list[list[str]]  # (n_flickr) five captions per Flickr photo

    @functools.cached_property
    def probabilities(self) -> np.ndarray:
        return softmax(self.logits)

    @functools.cached_property
    def meaning(self) -> np.ndarray:
        return meaning_vectors(self.probabilities)

    @property
    def n_imagenet(self) -> int:
        return len(self.classes)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _encode(files: list[Path], cache: Path) -> tuple[np.ndarray, np.ndarray]:
    if cache.exists():
        saved = np.load(cache)
        return saved["features"], saved["logits"]
    from ml.encoders import get_encoder
    from ml.images import open_image

    encoder = get_encoder("efficientnet_lite0", model_dir=LOCAL / "models", threads=2)
    features, logits = [], []
    for start in range(0, len(files), 32):
        encoding = encoder.encode([open_image(path.read_bytes()) for path in files[start : start + 32]])
        features.append(encoding.features)
        logits.append(encoding.logits)
    result = np.concatenate(features), np.concatenate(logits)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, features=result[0], logits=result[1])
    return result


def load_dev_photos() -> DevPhotos:
    imagenet = Path(os.environ.get("DEV_DATASET", DATASETS / "imagenet-sample-dev"))
    flickr = DATASETS / "flickr8k-dev"
    labels = _read_csv(imagenet / "labels.csv")
    captions = _read_csv(flickr / "captions.csv")
    imagenet_features, imagenet_logits = _encode(
        [imagenet / row["file"] for row in labels], LOCAL / "bench_imagenet_dev.npz"
    )
    flickr_features, flickr_logits = _encode([flickr / row["file"] for row in captions], LOCAL / "bench_flickr_dev.npz")
    return DevPhotos(
        features=np.concatenate([imagenet_features, flickr_features]),
        logits=np.concatenate([imagenet_logits, flickr_logits]),
        classes=np.array([int(row["imagenet_index"]) for row in labels]),
        pascal=np.array([row["pascal_category"] for row in labels]),
        labels=[row["imagenet_label"] for row in labels],
        captions=[[row[f"caption_{i}"] for i in range(1, 6)] for row in captions],
    )
