"""The worker under faults, with real worker processes on the real broker and database."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from skimage import data

from catalog import services
from catalog.models import Image
from ingest import tasks
from ml.tags import MIN_TAG_PROBABILITY
from tests.conftest import BASE_DIR, png_bytes, running_worker

QUEUE = "redelivery-test"  # a queue of its own, so that the session's worker cannot take the task


def child_pids(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    log = (BASE_DIR / ".local" / "redelivery-worker.log").read_text()[-3000:]
    raise AssertionError(f"Timed out waiting for {what}. Worker log:\n{log}")


def test_a_batch_whose_worker_process_is_killed_is_redelivered_and_completes(committed_db) -> None:
    """Late acknowledgement + reject_on_worker_lost: SIGKILL the process running the batch (as the
    out-of-memory killer would) and the same batch runs again in a fresh process."""
    category = services.get_or_create_category("Redelivery")
    images = [
        services.create_image(data=png_bytes(getattr(data, name)()), filename=f"{name}.png", category=category)
        for name in ("chelsea", "coffee", "astronaut", "rocket")
    ]
    ids = [image.pk for image in images]
    statuses = lambda: set(Image.objects.filter(pk__in=ids).values_list("status", flat=True))  # noqa: E731

    with running_worker("--pool=prefork", "--concurrency=1", "-Q", QUEUE, log_name="redelivery-worker.log") as worker:
        tasks.process_images.apply_async(args=[ids], queue=QUEUE)
        wait_for(lambda: statuses() == {Image.Status.PROCESSING}, 60, "the batch to start")
        children = child_pids(worker.pid)
        assert len(children) == 1
        os.kill(children[0], signal.SIGKILL)  # mid-batch: the model is still loading in the child
        assert Image.Status.READY not in statuses(), "the batch finished before the kill; nothing was tested"

        wait_for(lambda: statuses() == {Image.Status.READY}, 120, "the redelivered batch to finish")

    log = (BASE_DIR / ".local" / "redelivery-worker.log").read_text()
    assert "WorkerLostError" in log or "signal 9" in log
    for image in Image.objects.filter(pk__in=ids):
        assert image.thumbnail and image.classes and image.embeddings.count() == 3
        # Tags unless the classifier is unsure (the astronaut: no confident tags, ml.tags).
        assert image.tags or image.classes[0]["probability"] < MIN_TAG_PROBABILITY
