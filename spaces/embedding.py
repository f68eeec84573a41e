"""Pictures into every space's vectors, as the settings and the stored models say: the Django
side of `ml.embed`, shared by the worker (ingest) and search by photo."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from ml.embed import EmbeddedImages, Head, embed
from ml.encoding import ImageEncoder
from spaces import selectors
from spaces.models import EmbeddingSpace, JointModel
from spaces.services import ImageSpaces


def embed_pictures(
    encoder: ImageEncoder,
    pictures: Sequence[PILImage.Image],
    word_space: EmbeddingSpace,
    *,
    models: Sequence[JointModel] = (),
    annotate: bool = False,
) -> EmbeddedImages:
    """Encode a batch of pictures and turn the outputs into each space's vectors: the image,
    meaning and zero-shot joint spaces, and the space of each trained model in `models` (keyed
    by that model's space); with `annotate`, each picture's classes and tags too."""
    return embed(
        encoder.encode(pictures),
        class_vectors=selectors.class_vectors(word_space),
        top_t=selectors.conse_top_t(word_space),
        heads={model.space: Head(selectors.head_weights(model), model.blend) for model in models},
        tags_per_image=settings.TAGS_PER_IMAGE if annotate else 0,
    )


def vectors_by_space(spaces: ImageSpaces, embedded: EmbeddedImages) -> dict[EmbeddingSpace, np.ndarray]:
    """What the worker stores: each space's rows, for the same images in the same order."""
    stored = {spaces.image: embedded.features, spaces.meaning: embedded.meaning, spaces.joint: embedded.conse}
    return {**stored, **embedded.heads}
