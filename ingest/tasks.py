"""Celery tasks and the functions that queue them. Tasks carry item ids only."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import suppress
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from catalog import files as catalog_files
from catalog import selectors as catalog_selectors
from catalog import services as catalog
from ingest import operations, pipeline

logger = logging.getLogger(__name__)

# Worth another try: the database or storage hiccuped. Anything else fails the items at once.
TRANSIENT_ERRORS = (DatabaseError, OSError, ConnectionError, TimeoutError)


@shared_task(bind=True, max_retries=5, acks_late=True)
def process_images(self, image_ids: list[int], include_ready: bool = False) -> None:
    """Decode, thumbnail and embed a batch of catalogue items (ready ones only when reprocessing).

    Runs under the soft and hard time limits of the settings; a batch over the soft limit, or
    one whose worker died, is split (see `ingest.pipeline`)."""
    run = self.request.id
    try:
        requeue = pipeline.process_images(image_ids, run=run, include_ready=include_ready)
    except SoftTimeLimitExceeded:
        limit = settings.CELERY_TASK_SOFT_TIME_LIMIT
        requeue = pipeline.give_up_run(
            image_ids, run=run, reason=f"Processing took longer than the time limit of {limit} seconds."
        )
    except TRANSIENT_ERRORS as exc:
        with suppress(DatabaseError):  # the retry is the same run: it must not find its own claims
            catalog.release(image_ids, run=run)
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=min(5 * 2**self.request.retries, 300)) from exc
        logger.exception("Giving up on images %s", image_ids)
        catalog.mark_failed(image_ids, f"Processing failed after {self.max_retries} retries: {exc}")
        raise
    except Exception as exc:
        logger.exception("Processing images %s failed", image_ids)
        catalog.mark_failed(image_ids, f"Processing failed: {exc}")
        raise
    same_queue = (self.request.delivery_info or {}).get("routing_key")
    for batch in requeue:
        queue_processing(batch, include_ready=include_ready, queue=same_queue)


def _publish(batch: list[int], include_ready: bool, queue: str | None) -> None:
    try:
        process_images.apply_async((batch,), {"include_ready": include_ready}, queue=queue)
    except (BrokerError, RedisError, OSError):
        # The items are saved as pending; the reconciler queues them once the broker is back.
        logger.exception("Could not queue images %s; the reconciler will queue them later", batch)


def queue_processing(image_ids: Iterable[int], *, include_ready: bool = False, queue: str | None = None) -> None:
    """Queue items in batches of EMBED_BATCH_SIZE once the current transaction commits
    (the worker must see the rows), so that the CNN runs on whole batches. A broker that is
    down loses nothing: the error is logged and `reconcile` queues the items later."""
    ids = list(image_ids)
    size = settings.EMBED_BATCH_SIZE
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        transaction.on_commit(lambda batch=batch: _publish(batch, include_ready, queue))


def reprocess(image_ids: Iterable[int]) -> None:
    """Process items again (new model, new thumbnails): ready items stay searchable meanwhile,
    failed or stuck ones go back to pending. Used by the admin action, the API and `reembed`."""
    ids = list(image_ids)
    catalog.reset_for_processing(ids)
    queue_processing(ids, include_ready=True)


@shared_task(ignore_result=True)
def reconcile() -> int:
    """Queue what nothing will finish otherwise (run every RECONCILE_INTERVAL seconds by Celery
    beat, embedded in the worker with `-B`): processing items whose run's worker died, and, while
    the queue is empty (else they may be waiting in it), items pending for longer than
    RECONCILE_PENDING_AFTER because their task never reached the broker."""
    now = timezone.now()
    ids = catalog_selectors.items_to_requeue(
        pending_before=now - timedelta(seconds=settings.RECONCILE_PENDING_AFTER)
        if operations.queue_length() == 0
        else None,
        stale_before=now - timedelta(seconds=settings.PROCESSING_STALE_AFTER),
    )
    queue_processing(ids)
    operations.record_reconcile(queued=len(ids))
    if ids:
        logger.info("Reconciler queued images %s", ids)
    return len(ids)


@shared_task(ignore_result=True)
def remove_orphan_files() -> int:
    """Delete stored files no item references (run every ORPHAN_SWEEP_INTERVAL seconds by beat)."""
    return len(catalog_files.remove_orphan_files(older_than=timedelta(seconds=settings.ORPHAN_FILES_AFTER)))
