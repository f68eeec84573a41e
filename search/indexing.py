"""The worker's job: turn catalogue items into vectors, thumbnails and tags.

Called by the Celery task in `search.tasks` with a batch of item ids; the CNN runs on the
whole batch at once.
"""

from __future__ import annotations

import logging

from django.conf import settings

from catalog import services as catalog
from catalog.models import Image
from ml.images import InvalidImage, open_image, thumbnail_jpeg
from search.services import index_images

logger = logging.getLogger(__name__)


def _decode(image: Image):
    """The stored original, opened the one way every image is opened; bad bytes fail the item."""
    with image.original.open("rb") as handle:
        data = handle.read()
    try:
        return open_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
    except InvalidImage as exc:
        logger.warning("Image %s failed: %s", image.pk, exc)
        catalog.mark_failed([image.pk], str(exc))
        return None


def process_images(image_ids: list[int]) -> None:
    """Decode, thumbnail and embed a batch of items, then mark them ready.

    Idempotent: re-running replaces thumbnails, vectors and tags. Bad files fail their own item
    with a readable message; anything else propagates so that the task is retried.
    """
    images = catalog.start_processing(image_ids)
    decoded = [(image, picture) for image in images if (picture := _decode(image)) is not None]
    if not decoded:
        return
    annotations = index_images([image.pk for image, _ in decoded], [picture for _, picture in decoded])
    for image, picture in decoded:
        catalog.mark_ready(
            image,
            size=picture.size,
            thumbnail=thumbnail_jpeg(picture),
            classes=annotations[image.pk].classes,
            tags=annotations[image.pk].tags,
        )
