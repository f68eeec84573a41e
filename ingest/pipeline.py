"""The worker's pipeline: claim a batch of items -> decode -> embed -> store vectors -> ready.

Called by the Celery task in `ingest.tasks` with a batch of item ids; the CNN runs on the
whole batch at once.
"""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings
from django.db import transaction

from catalog import services as catalog
from catalog.models import Image
from ml.embed import EmbeddedImages
from ml.images import PROCESSING_SIZE, DecodedImage, InvalidImage, decode_image, thumbnail_jpeg
from spaces import selectors, services
from spaces.embedding import embed_pictures, vectors_by_space
from spaces.encoders import current_encoder
from spaces.models import EmbeddingSpace

logger = logging.getLogger(__name__)


def _decode(image: Image) -> DecodedImage | None:
    """The stored original, opened the one way every image is opened (at the scale its thumbnail
    and the encoder need); bad bytes fail the item."""
    with image.original.open("rb") as handle:
        data = handle.read()
    try:
        return decode_image(data, max_pixels=settings.MAX_IMAGE_PIXELS, at_least=PROCESSING_SIZE)
    except InvalidImage as exc:
        logger.warning("Image %s failed: %s", image.pk, exc)
        catalog.mark_failed([image.pk], str(exc))
        return None


def embed(pictures: list) -> tuple[dict[EmbeddingSpace, np.ndarray], EmbeddedImages]:
    """Embed a batch of item pictures in every space of the current encoder (and of the trained
    models over it): the rows to store by space, and what was computed, classes and tags included."""
    encoder = current_encoder()
    spaces = services.ensure_image_spaces(encoder)
    word_space = spaces.joint.word_space
    models = selectors.trained_models(spaces.image, word_space)
    embedded = embed_pictures(encoder, pictures, word_space, models=models, annotate=True)
    return vectors_by_space(spaces, embedded), embedded


def halves(image_ids: list[int]) -> list[list[int]]:
    middle = (len(image_ids) + 1) // 2
    return [image_ids[:middle], image_ids[middle:]]


def give_up_run(image_ids: list[int], *, run: str, reason: str) -> list[list[int]]:
    """A run that cannot finish (its worker died, or it hit the time limit): a batch is given back
    and returned as two halves to queue separately, so that one bad item cannot sink the others;
    a single item fails with `reason`."""
    if len(image_ids) > 1:
        catalog.release(image_ids, run=run)
        logger.warning("Splitting batch %s: %s", image_ids, reason)
        return halves(image_ids)
    logger.warning("Image %s failed: %s", image_ids, reason)
    catalog.mark_failed(image_ids, reason)
    return []


def process_images(image_ids: list[int], *, run: str, include_ready: bool = False) -> list[list[int]]:
    """Decode, thumbnail and embed a batch of items, then mark them ready; returns the batches
    to queue again separately (see `give_up_run`).

    Only the items this run claims are processed: ready ones only with `include_ready` (asked
    for by reprocessing), none that another live run holds. When an earlier run of the same
    batch left its claims (its worker died, say out of memory), the batch is split instead; a
    single item gets PROCESSING_MAX_INTERRUPTIONS runs before it fails.

    Idempotent: re-running replaces thumbnails, vectors and tags. Bad files fail their own item
    with a readable message; anything else propagates so that the task is retried.
    """
    claim = catalog.claim_for_processing(image_ids, run=run, include_ready=include_ready)
    ids = [image.pk for image in claim.images]
    if claim.interrupted:
        died = "Processing stopped its worker process (killed, out of memory or over the time limit)"
        if len(ids) > 1:
            return give_up_run(ids, run=run, reason=died)
        runs = catalog.note_interruption(ids[0])
        if runs >= settings.PROCESSING_MAX_INTERRUPTIONS:
            return give_up_run(ids, run=run, reason=f"{died} {runs} times; it was not tried again.")
    catalog.start_processing(ids)
    decoded = [(image, found) for image in claim.images if (found := _decode(image)) is not None]
    if not decoded:
        return []
    vectors, embedded = embed([found.picture for _, found in decoded])
    processed = [
        catalog.Processed(
            image=image,
            size=found.size,
            thumbnail=thumbnail_jpeg(found.picture),
            classes=embedded.classes[row],
            tags=embedded.tags[row],
        )
        for row, (image, found) in enumerate(decoded)
    ]
    # One commit for the batch, after the CPU work: its items become ready with their vectors.
    with transaction.atomic():
        services.replace_image_vectors([image.pk for image, _ in decoded], vectors)
        catalog.mark_ready(processed)
    return []
