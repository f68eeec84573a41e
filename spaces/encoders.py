"""The encoders as the settings configure them: image encoders (runtime, model folder, VGG16
weights, threads) and the sentence encoder of sentence word spaces (threads)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from django.conf import settings

from ml.encoders import get_encoder
from ml.encoding import ImageEncoder
from ml.sentences import SentenceEncoder, get_sentence_encoder


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


def sentence_encoder() -> SentenceEncoder:
    """The process-wide sentence encoder (ONNX Runtime, loaded on first embed, SENTENCE_THREADS)."""
    return get_sentence_encoder(settings.SENTENCE_THREADS)


@lru_cache(maxsize=4096)
def sentence_vector(text: str) -> np.ndarray:
    """One text's unit vector in the sentence space; visitors repeat queries, so kept per process."""
    vector = sentence_encoder().embed([text])[0]
    vector.setflags(write=False)
    return vector
