"""The operations page for staff: items by state, failed items with errors and a retry button,
the queue, the workers, the reconciler's last run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import redis
from celery import current_app
from django.conf import settings
from django.urls import reverse

from catalog import services
from catalog.models import Category, Image
from ingest import operations, tasks
from tests.conftest import png_bytes

URL = "admin:catalog_image_operations"


@pytest.fixture
def shelf(media) -> dict[str, Image]:
    category = Category.objects.create(name="Ops", slug="ops")
    images = {
        name: services.create_image(
            data=png_bytes(np.full((8, 8, 3), seed, dtype=np.uint8)), filename=f"{name}.png", category=category
        )
        for seed, name in enumerate(("pending", "ready", "broken", "lost"))
    }
    Image.objects.filter(pk=images["ready"].pk).update(status=Image.Status.READY)
    services.mark_failed([images["broken"].pk], "The image file is damaged or incomplete (truncated).")
    services.mark_failed([images["lost"].pk], "Processing stopped its worker process 2 times.")
    return images


@pytest.fixture
def three_waiting_tasks(monkeypatch) -> Iterator[None]:
    """Three messages waiting in a queue of this test's own on the real broker (no worker reads it)."""
    queue = f"operations-test-{uuid.uuid4().hex}"
    monkeypatch.setitem(current_app.conf, "task_default_queue", queue)
    with redis.Redis.from_url(settings.CELERY_BROKER_URL) as broker:
        broker.rpush(queue, "a", "b", "c")
        try:
            yield
        finally:
            broker.delete(queue)


@pytest.mark.django_db
def test_operations_page_shows_the_pipeline(admin_client, shelf, three_waiting_tasks) -> None:
    operations.record_reconcile(queued=3)
    page = admin_client.get(reverse(URL))
    assert page.status_code == 200
    html = page.content.decode()
    assert page.context["counts"] == {"pending": 1, "processing": 0, "ready": 1, "failed": 2}
    assert "The image file is damaged or incomplete (truncated)." in html and "2 times" in html
    assert page.context["queue_length"] == 3  # read from the broker
    assert 'hx-get="?part=workers"' in html  # the worker ping (1 s) does not hold the page up
    workers = admin_client.get(reverse(URL), {"part": "workers"})
    # The names of the workers that answered the ping, shown on the page (a session's test worker may).
    assert workers.status_code == 200 and workers.context["workers"] == operations.workers_seen()
    assert all(name in workers.content.decode() for name in workers.context["workers"])
    assert "queued 3 item(s)" in html
    assert reverse(URL) in admin_client.get(reverse("admin:catalog_image_changelist")).content.decode()


@pytest.mark.django_db
def test_retry_requeues_failed_items(admin_client, shelf, monkeypatch) -> None:
    queued: list[list[int]] = []
    monkeypatch.setattr(tasks, "queue_processing", lambda ids, **kwargs: queued.append(list(ids)))
    broken, lost = shelf["broken"], shelf["lost"]

    response = admin_client.post(reverse(URL), {"retry": [broken.pk]})
    assert response.status_code == 302
    assert queued == [[broken.pk]]
    broken.refresh_from_db()
    assert (broken.status, broken.error) == (Image.Status.PENDING, "")

    admin_client.post(reverse(URL), {"all": "1"})
    assert queued[-1] == [lost.pk]


@pytest.mark.django_db
def test_operations_page_survives_a_broker_outage(admin_client, shelf, monkeypatch) -> None:
    def down():
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(operations, "queue_length", down)
    page = admin_client.get(reverse(URL))
    assert page.status_code == 200 and "the broker cannot be reached" in page.content.decode()
