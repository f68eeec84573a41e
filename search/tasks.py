"""Celery tasks and the functions that queue them. Tasks carry item ids only."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, transaction

from catalog import services as catalog
from search import indexing, training
from search.models import JointModel

logger = logging.getLogger(__name__)

# Worth another try: the database or storage hiccuped. Anything else fails the items at once.
TRANSIENT_ERRORS = (DatabaseError, OSError, ConnectionError, TimeoutError)


@shared_task(bind=True, max_retries=5, acks_late=True)
def process_images(self, image_ids: list[int]) -> None:
    """Decode, thumbnail and embed a batch of catalogue items."""
    try:
        indexing.process_images(image_ids)
    except TRANSIENT_ERRORS as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=min(5 * 2**self.request.retries, 300)) from exc
        logger.exception("Giving up on images %s", image_ids)
        catalog.mark_failed(image_ids, f"Processing failed after {self.max_retries} retries: {exc}")
        raise
    except Exception as exc:
        logger.exception("Processing images %s failed", image_ids)
        catalog.mark_failed(image_ids, f"Processing failed: {exc}")
        raise


def queue_processing(image_ids: Iterable[int]) -> None:
    """Queue items in batches of EMBED_BATCH_SIZE once the current transaction commits
    (the worker must see the rows), so that the CNN runs on whole batches."""
    ids = list(image_ids)
    size = settings.EMBED_BATCH_SIZE
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        transaction.on_commit(lambda batch=batch: process_images.delay(batch))


def reprocess(image_ids: Iterable[int]) -> None:
    """Process items again (new model, new thumbnails): ready items stay searchable meanwhile,
    failed or stuck ones go back to pending. Used by the admin action, the API and `reembed`."""
    ids = list(image_ids)
    catalog.reset_for_processing(ids)
    queue_processing(ids)


@shared_task(acks_late=False)
def train_joint_model(model_id: int) -> None:
    """Train a head, fill its space and evaluate it (progress on the JointModel row).
    Not retried: a failure is recorded on the model for the admin."""
    model = JointModel.objects.select_related("space", "image_space").get(pk=model_id)
    training.run_training(model)
