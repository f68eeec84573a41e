"""The ingest benchmark's encoders alone: the photos, decoded as the worker decodes them, through
each encoder and runtime available, in batches of EMBED_BATCH_SIZE."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image as PILImage
from rich.console import Console

from ml.encoding import ImageEncoder
from ml.images import PROCESSING_SIZE, decode_image


@dataclass(frozen=True)
class EncoderRate:
    name: str
    threads: str
    photos: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.photos / self.seconds


def encoder_rates(files: list[Path], vgg16_photos: int, console: Console) -> list[EncoderRate]:
    """Each encoder with the worker's threads per process (ENCODER_THREADS) and with all cores:
    EfficientNet-Lite0 in ONNX Runtime and in torch, and VGG16 (the tutorial's baseline) on the
    first `vgg16_photos`, with random weights (the computation, so the time, is the same)."""
    from ml.onnx_encoder import load_or_export

    pictures = [decode_image(path.read_bytes(), at_least=PROCESSING_SIZE).picture for path in files]
    thread_counts = list(dict.fromkeys([settings.ENCODER_THREADS, 0]))
    rates = [
        timed(
            "EfficientNet-Lite0, ONNX Runtime",
            threads,
            pictures,
            load_or_export("efficientnet_lite0", Path(settings.MODEL_DIR), threads=threads),
            console,
        )
        for threads in thread_counts
    ]
    try:
        import torch

        from ml.torch_encoders import EfficientNetLite0Encoder, VGG16Encoder
    except ImportError:
        console.print("torch is not installed: the torch runtime and VGG16 are left out.")
        return rates
    all_cores = torch.get_num_threads()
    lite0 = EfficientNetLite0Encoder()
    for threads in thread_counts:
        torch.set_num_threads(threads or all_cores)
        rates.append(timed("EfficientNet-Lite0, torch", threads, pictures, lite0, console))
    torch.set_num_threads(all_cores)
    vgg16 = VGG16Encoder(random_init=True)
    rates.append(timed("VGG16 fc7, torch (baseline)", 0, pictures[:vgg16_photos], vgg16, console))
    return rates


def timed(
    name: str, threads: int, pictures: list[PILImage.Image], encoder: ImageEncoder, console: Console
) -> EncoderRate:
    size = settings.EMBED_BATCH_SIZE
    encoder.encode(pictures[:size])  # warm-up: first-run allocations and kernel choices
    start = time.perf_counter()
    for first in range(0, len(pictures), size):
        encoder.encode(pictures[first : first + size])
    seconds = time.perf_counter() - start
    label = str(threads) if threads else f"all ({os.cpu_count()} cores)"
    result = EncoderRate(name, label, len(pictures), seconds)
    console.print(f"{name}, threads {label}: {result.rate:.1f} images/s")
    return result
