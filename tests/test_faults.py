"""Faults and races, against the real servers: the broker down during uploads, the database
dropping every connection, a batch that kills its worker, batches over the time limit, two runs
of one item, duplicate uploads and category names racing, one active space per kind, and old
thumbnails removed only after the new row is committed."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import requests
from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from skimage import data

from catalog import services
from catalog.models import Category, Image
from ingest import operations, pipeline, tasks
from spaces.models import EmbeddingSpace
from spaces.services import activate_space
from tests.conftest import BASE_DIR, png_bytes, running_worker, subprocess_environment

QUEUE = "faults-test"  # a queue of its own: the session's worker must not take these tasks


def wait_for(condition: Callable[[], object], timeout: float, what: str, log: str = "test-worker.log") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    tail = (BASE_DIR / ".local" / log).read_text()[-3000:] if (BASE_DIR / ".local" / log).exists() else ""
    raise AssertionError(f"Timed out waiting for {what}. {log}:\n{tail}")


def child_pids(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def random_png(seed: int) -> bytes:
    return png_bytes(np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Claims: one run per item -------------------------------------------------------------


@pytest.mark.django_db
def test_a_claimed_item_is_left_to_its_run_until_the_claim_goes_stale(media) -> None:
    category = Category.objects.create(name="Claims", slug="claims")
    pk = services.create_image(data=random_png(1), filename="a.png", category=category).pk

    first = services.claim_for_processing([pk], run="run-a")
    assert [image.pk for image in first.images] == [pk] and not first.interrupted
    assert services.claim_for_processing([pk], run="run-b").images == []  # a second task gets nothing

    redelivered = services.claim_for_processing([pk], run="run-a")  # the same task after its worker died
    assert redelivered.images and redelivered.interrupted

    stale = timezone.now() - timedelta(seconds=settings.PROCESSING_STALE_AFTER + 1)
    Image.objects.filter(pk=pk).update(claimed_at=stale)
    retaken = services.claim_for_processing([pk], run="run-c")
    assert retaken.images and retaken.interrupted

    services.mark_failed([pk], "x")
    assert Image.objects.filter(pk=pk, claimed_by="").exists()  # every end of a run releases the claim


def test_two_runs_of_the_same_items_at_once_process_each_item_once(committed_db, word_space, monkeypatch) -> None:
    category = services.get_or_create_category("Race")
    ids = [services.create_image(data=random_png(seed), filename="r.png", category=category).pk for seed in (2, 3)]
    embedded: list[int] = []
    real = pipeline.embed

    def slow_embed(pictures):
        embedded.extend([None] * len(pictures))
        time.sleep(0.5)  # both runs are inside processing at the same time
        return real(pictures)

    monkeypatch.setattr(pipeline, "embed", slow_embed)
    start = threading.Barrier(2)

    def run(name: str) -> None:
        start.wait()
        try:
            pipeline.process_images(ids, run=name)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("task-1", "task-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(embedded) == len(ids)  # each item embedded once
    assert set(Image.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Image.Status.READY}


# --- The broker down during uploads, then the reconciler ------------------------------------


@contextmanager
def broker_unreachable() -> Iterator[None]:
    """Publishing goes to a closed port, as when Redis is down; the real broker afterwards."""
    app = current_app
    real = app.conf.broker_url

    def use(url: str) -> None:
        app.conf.broker_url = url
        app._pool = None
        app.amqp._producer_pool = None

    use(f"redis://127.0.0.1:{free_port()}/15")
    try:
        yield
    finally:
        use(real)


def test_uploads_while_the_broker_is_down_are_kept_and_the_reconciler_queues_them(
    committed_db, staff_user, caplog, wait_until_settled
) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    client = APIClient()
    client.force_login(staff_user)
    with broker_unreachable():
        response = api.post(
            "/api/images/",
            {"file": SimpleUploadedFile("a.png", random_png(4)), "category": "Outage"},
            format="multipart",
        )
        admin = client.post(
            "/admin/catalog/image/upload/",
            {"files": [SimpleUploadedFile("b.png", random_png(5))], "new_category": "Outage"},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    assert admin.status_code == 302
    images = list(Image.objects.order_by("pk"))
    assert len(images) == 2 and {image.status for image in images} == {Image.Status.PENDING}
    assert "the reconciler will queue them later" in caplog.text

    # The broker is back after a while. A worker with Celery beat embedded (`-B`, as `./dev run`
    # starts it) runs the reconciler, which queues the items that nothing else would.
    outage = timedelta(seconds=settings.RECONCILE_PENDING_AFTER + 60)
    Image.objects.update(updated_at=timezone.now() - outage)
    with running_worker("-B", "--pool=solo", log_name="beat-worker.log", env={"RECONCILE_INTERVAL": "1"}):
        for image in images:
            wait_until_settled(image, timeout=180)
            assert image.status == Image.Status.READY, image.error
    assert "ingest.tasks.reconcile" in (BASE_DIR / ".local" / "beat-worker.log").read_text()
    assert operations.last_reconcile() is not None


@pytest.mark.django_db
def test_the_reconciler_queues_lost_items_only(media, monkeypatch) -> None:
    category = Category.objects.create(name="Lost", slug="lost")
    make = lambda seed: services.create_image(data=random_png(seed), filename="l.png", category=category)  # noqa: E731
    long_ago = timezone.now() - timedelta(hours=1)
    fresh, waiting, stale, live, ready, failed = (make(seed) for seed in range(10, 16))
    Image.objects.filter(pk=waiting.pk).update(updated_at=long_ago)
    Image.objects.filter(pk=stale.pk).update(status=Image.Status.PROCESSING, claimed_by="dead", claimed_at=long_ago)
    Image.objects.filter(pk=live.pk).update(
        status=Image.Status.PROCESSING, claimed_by="alive", claimed_at=timezone.now(), updated_at=long_ago
    )
    Image.objects.filter(pk=ready.pk).update(status=Image.Status.READY, updated_at=long_ago)
    Image.objects.filter(pk=failed.pk).update(status=Image.Status.FAILED, updated_at=long_ago)
    queued: list[list[int]] = []
    monkeypatch.setattr(tasks, "queue_processing", lambda ids: queued.append(list(ids)))

    monkeypatch.setattr(operations, "queue_length", lambda: 3)  # pending items may be in the queue
    assert tasks.reconcile() == 1 and queued == [[stale.pk]]
    monkeypatch.setattr(operations, "queue_length", lambda: 0)
    assert tasks.reconcile() == 2 and queued[-1] == sorted([waiting.pk, stale.pk])
    assert operations.last_reconcile()["queued"] == 2


# --- The database drops every connection (a restart, as the web and the worker see it) -------


def terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@contextmanager
def gunicorn(*options: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """The website in a real gunicorn (by default one process, one thread: one persistent connection)."""
    port = free_port()
    log = open(BASE_DIR / ".local" / "test-gunicorn.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--threads", "1"]
        + list(options),
        cwd=BASE_DIR,
        env={**subprocess_environment(), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), 60, "gunicorn to start", log="test-gunicorn.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=10).status_code < 500
    except requests.RequestException:  # not listening yet, or still loading on a busy machine
        return False


def test_web_and_worker_reconnect_after_the_database_drops_their_connections(
    committed_db, celery_worker, wait_until_settled
) -> None:
    category = services.get_or_create_category("Reconnect")
    first = services.create_image(data=random_png(20), filename="a.png", category=category)
    tasks.process_images.delay([first.pk])
    assert wait_until_settled(first).status == Image.Status.READY
    # The production config: the web process keeps its connection in its pool (one thread, one).
    with gunicorn("--config", "config/gunicorn.py", "--threads", "1") as url:
        assert requests.get(f"{url}/", timeout=10).status_code == 200  # and so does the web process

        # Celery closes the worker's connections around each task; the web process keeps its own.
        assert terminate_other_backends() >= 1

        assert requests.get(f"{url}/", timeout=10).status_code == 200
        assert requests.get(f"{url}/api/images/{first.pk}/", timeout=10).status_code == 200
    second = services.create_image(data=random_png(21), filename="b.png", category=category)
    tasks.process_images.delay([second.pk])
    assert wait_until_settled(second).status == Image.Status.READY


# --- A batch that kills its worker; batches over the time limit -----------------------------


def large_photo() -> bytes:
    """24 megapixels: decoding and thumbnailing take about a second, long enough to be caught."""
    x = np.linspace(0, 255, 6000, dtype=np.float32)
    y = np.linspace(0, 255, 4000, dtype=np.float32)[:, None]
    pixels = np.stack([np.broadcast_to(x, (4000, 6000)), np.broadcast_to(y, (4000, 6000)), (x + y) % 256], axis=2)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels.astype(np.uint8)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def test_a_batch_that_kills_its_worker_is_split_and_the_item_that_kills_it_fails(committed_db) -> None:
    """The test plays the out-of-memory killer: whenever the worker starts processing a run that
    holds the large image, it SIGKILLs the worker process. Redelivery (acks_late,
    reject_on_worker_lost) brings the batch back; it is split in halves until the large image is
    alone, which gets PROCESSING_MAX_INTERRUPTIONS runs and is then marked failed. Its batch mates
    complete."""
    category = services.get_or_create_category("Poison")
    killer = services.create_image(data=large_photo(), filename="huge.jpg", category=category)
    others = [
        services.create_image(data=png_bytes(getattr(data, name)()), filename=f"{name}.png", category=category)
        for name in ("chelsea", "coffee", "rocket")
    ]
    ids = [killer.pk] + [image.pk for image in others]
    log = "poison-worker.log"
    kills = 0
    with running_worker("--pool=prefork", "--concurrency=1", "-Q", QUEUE, log_name=log) as worker:
        tasks.process_images.apply_async(args=[ids], queue=QUEUE)
        killed_run = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            row = Image.objects.values("status", "updated_at").get(pk=killer.pk)
            if row["status"] == Image.Status.FAILED:
                break
            if row["status"] == Image.Status.PROCESSING and row["updated_at"] != killed_run:
                children = child_pids(worker.pid)
                if children:
                    os.kill(children[0], signal.SIGKILL)
                    kills += 1
                    killed_run = row["updated_at"]
            time.sleep(0.02)
        wait_for(
            lambda: (
                set(Image.objects.filter(pk__in=ids).values_list("status", flat=True))
                == {Image.Status.READY, Image.Status.FAILED}
            ),
            120,
            "the batch mates to finish",
            log=log,
        )
    killer.refresh_from_db()
    assert killer.status == Image.Status.FAILED
    assert (
        "stopped its worker process" in killer.error
        and f"{settings.PROCESSING_MAX_INTERRUPTIONS} times" in killer.error
    )
    assert kills == 2 + settings.PROCESSING_MAX_INTERRUPTIONS  # the batch of 4, its half of 2, then alone
    for image in Image.objects.filter(pk__in=[image.pk for image in others]):
        assert image.status == Image.Status.READY and image.embeddings.count() == 3
    assert "Splitting batch" in (BASE_DIR / ".local" / log).read_text()


@pytest.mark.django_db
def test_a_batch_over_the_soft_time_limit_is_split_and_a_single_item_fails(
    media, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    category = Category.objects.create(name="Slow", slug="slow")
    ids = [
        services.create_image(data=random_png(seed), filename="s.png", category=category).pk for seed in (30, 31, 32)
    ]

    def too_slow(image_ids, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(pipeline, "process_images", too_slow)
    queued: list[tuple] = []
    monkeypatch.setattr(tasks, "_publish", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.process_images.apply(args=[ids]).state == "SUCCESS"
    assert [batch for batch, *_ in queued] == [ids[:2], ids[2:]]
    assert tasks.process_images.apply(args=[ids[2:]]).state == "SUCCESS"
    failed = Image.objects.get(pk=ids[2])
    assert failed.status == Image.Status.FAILED
    assert (
        failed.error == f"Processing took longer than the time limit of {settings.CELERY_TASK_SOFT_TIME_LIMIT} seconds."
    )
    limits = current_app.conf
    assert (limits.task_soft_time_limit, limits.task_time_limit) == (
        settings.CELERY_TASK_SOFT_TIME_LIMIT,
        settings.CELERY_TASK_TIME_LIMIT,
    )
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT < settings.PROCESSING_STALE_AFTER


# --- Races in the catalogue -----------------------------------------------------------------


def waiting_on_a_lock() -> bool:
    with connections["default"].cursor() as cursor:  # pg_locks is live, not a per-transaction snapshot
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


def test_concurrent_duplicate_uploads_make_one_item_and_one_clear_answer(committed_db, site, staff_user, media) -> None:
    token = Token.objects.create(user=staff_user).key
    people = services.get_or_create_category("People")  # committed: only the image rows race
    photo = png_bytes(data.astronaut())
    answers: list[requests.Response] = []

    def second_upload() -> None:
        answers.append(
            requests.post(
                f"{site.url}/api/images/",
                files={"file": ("same.png", photo)},
                data={"category": "People"},
                headers={"Authorization": f"Token {token}"},
                timeout=60,
            )
        )

    with transaction.atomic():  # the first upload is stored but not committed yet
        first = services.create_image(data=photo, filename="astronaut.png", category=people)
        thread = threading.Thread(target=second_upload)
        thread.start()
        # The second passed the duplicate check (nothing committed) and waits on the unique index.
        wait_for(waiting_on_a_lock, 30, "the second upload to wait on the first")
    thread.join(timeout=60)

    assert answers[0].status_code == 409, answers[0].text
    assert answers[0].json()["existing_id"] == first.pk and "already in the catalogue" in answers[0].json()["detail"]
    assert Image.objects.count() == 1
    assert [path.name for path in Path(media).rglob("*.png")] == [Path(first.original.name).name]  # no orphan


def test_concurrent_category_creation_makes_one_category(committed_db) -> None:
    found: list[Category] = []

    def second() -> None:
        try:
            found.append(services.get_or_create_category("cats"))
        finally:
            connections.close_all()

    with transaction.atomic():
        first = services.get_or_create_category("Cats")
        thread = threading.Thread(target=second)
        thread.start()
        wait_for(waiting_on_a_lock, 30, "the second creation to wait on the first")
    thread.join(timeout=30)
    assert found == [first] and Category.objects.count() == 1


@pytest.mark.django_db
def test_the_database_allows_one_active_space_per_kind(word_space) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        EmbeddingSpace.objects.create(name="second", kind=word_space.kind, model="m", dims=3, state="active")
    other = EmbeddingSpace.objects.create(name="next", kind=word_space.kind, model="m", dims=3, state="building")
    activate_space(other)  # switching retires the current one first
    word_space.refresh_from_db()
    assert (other.state, word_space.state) == ("active", "retired")


@pytest.mark.django_db
def test_the_old_thumbnail_is_deleted_only_after_the_new_row_is_committed(
    word_space, media, django_capture_on_commit_callbacks
) -> None:
    category = Category.objects.create(name="Thumbs", slug="thumbs")
    image = services.create_image(data=png_bytes(data.coffee()), filename="c.png", category=category)
    pipeline.process_images([image.pk], run="first")
    image.refresh_from_db()
    old = image.thumbnail.name

    with django_capture_on_commit_callbacks() as on_commit:
        pipeline.process_images([image.pk], run="again", include_ready=True)
    image.refresh_from_db()
    assert image.thumbnail.name != old
    assert default_storage.exists(old)  # until the transaction commits: a rollback keeps a valid file
    for callback in on_commit:
        callback()
    assert not default_storage.exists(old) and default_storage.exists(image.thumbnail.name)
