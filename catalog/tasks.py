from celery import shared_task
from django.db import DatabaseError

from catalog import services

# Worth another try: the database or storage hiccuped. Anything else fails the items at once.
TRANSIENT_ERRORS = (DatabaseError, OSError, ConnectionError, TimeoutError)


@shared_task(bind=True, max_retries=5, acks_late=True)
def process_images(self, image_ids: list[int]) -> None:
    """Decode, thumbnail and embed a batch of catalogue items (ids only travel through Redis)."""
    try:
        services.process_images(image_ids)
    except TRANSIENT_ERRORS as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=min(5 * 2**self.request.retries, 300)) from exc
        services.mark_processing_error(image_ids, f"Processing failed after {self.max_retries} retries: {exc}")
        raise
    except Exception as exc:
        services.mark_processing_error(image_ids, f"Processing failed: {exc}")
        raise
