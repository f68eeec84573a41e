"""The image encoders as the settings configure them (runtime, model folder, VGG16 weights, threads)."""

from __future__ import annotations

from django.conf import settings

from ml.encoders import get_encoder
from ml.encoding import ImageEncoder


def encoder(name: str) -> ImageEncoder:
    """The process-wide encoder `name`, built on first use."""
    return get_encoder(
        name,
        runtime=settings.ENCODER_RUNTIME,
        model_dir=settings.MODEL_DIR,
        vgg16_weights=settings.VGG16_WEIGHTS,
        threads=settings.ENCODER_THREADS,
    )


def current_encoder() -> ImageEncoder:
    """The encoder new items are embedded with (IMAGE_ENCODER)."""
    return encoder(settings.IMAGE_ENCODER)
