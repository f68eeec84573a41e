"""Filling a trained space: every ready item gets a vector projected from its stored vectors
(features, and the meaning for a linear head), blended with its stored zero-shot vector; no CNN
runs. New uploads meanwhile get theirs from the worker (`ingest.pipeline` via `ml.embed`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from catalog.models import Image
from learning.texts import meaning_space_name
from ml.embed import head_vectors
from ml.ridge import is_linear
from spaces import selectors
from spaces import services as spaces
from spaces.models import EmbeddingSpace, ImageEmbedding, JointModel

FILL_BATCH_SIZE = 500


def _stored(space: EmbeddingSpace, ids: list[int]) -> dict[int, np.ndarray]:
    return selectors.vectors_of(space, ids)


def _matrix(stored: dict[int, np.ndarray], ids: list[int], dims: int) -> np.ndarray:
    """Rows in the order of `ids`; zeros for an item without a vector there."""
    return np.array([stored.get(i, np.zeros(dims)) for i in ids], dtype=np.float32).reshape(len(ids), dims)


def _add_vectors(space: EmbeddingSpace, image_ids: list[int], vectors: np.ndarray) -> None:
    """Vectors for items that have none in `space` yet (an item that has one keeps it); a float32
    space (made before halfvec storage) gets the halfvec too, as `spaces.services` writes them."""
    rows = [
        ImageEmbedding(image_id=i, space=space, compact=v, embedding=None if space.is_compact else v)
        for i, v in zip(image_ids, vectors, strict=True)
    ]
    ImageEmbedding.objects.bulk_create(rows, ignore_conflicts=True)


def fill_space(model: JointModel, progress: Callable[[int, int], None] | None = None) -> int:
    """Give every ready item a vector in the model's space; then the space is filled: it waits for
    a switch (or serves, if nothing else of its kind does). Returns the number of items."""
    space, image_space = model.space, model.image_space
    weights = selectors.head_weights(model)
    conse_name = EmbeddingSpace.conse_name(image_space.name, space.word_space)
    conse_space = EmbeddingSpace.objects.filter(name=conse_name).first() if model.blend > 0 else None
    meaning_space = EmbeddingSpace.objects.get(name=meaning_space_name(image_space)) if is_linear(weights) else None
    ids = list(
        ImageEmbedding.objects.filter(space=image_space, image__status=Image.Status.READY)
        .order_by("image_id")
        .values_list("image_id", flat=True)
    )
    if progress:
        progress(0, len(ids))
    ImageEmbedding.objects.filter(space=space).delete()
    for start in range(0, len(ids), FILL_BATCH_SIZE):
        features = _stored(image_space, ids[start : start + FILL_BATCH_SIZE])
        batch = [image_id for image_id in ids[start : start + FILL_BATCH_SIZE] if image_id in features]
        conse = _matrix(_stored(conse_space, batch), batch, space.dims) if conse_space else None
        meaning = _matrix(_stored(meaning_space, batch), batch, meaning_space.dims) if meaning_space else None
        projected = head_vectors(_matrix(features, batch, image_space.dims), meaning, conse, weights, model.blend)
        # An item indexed meanwhile already has its vector (the same one): keep it.
        _add_vectors(space, batch, projected)
        if progress:
            progress(min(start + FILL_BATCH_SIZE, len(ids)), len(ids))
    spaces.finish_building(space)
    space.refresh_from_db()
    return len(ids)
