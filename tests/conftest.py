"""Test fixtures over the real servers.

- Plain `db` tests run inside a transaction that is rolled back.
- Integration tests (a Celery worker process, a live web server driven by Chromium) need
  committed rows, so they use `committed_db`: real commits, and catalogue rows deleted
  afterwards. We deliberately avoid pytest-django's flush-based `transactional_db`: it would
  also wipe the word vectors, which take seconds to load and index.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from PIL import Image as PILImage
from pytest_django.live_server_helper import LiveServer

# Sync Playwright runs an event loop in the test thread; the ORM calls beside it are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BASE_DIR = Path(settings.BASE_DIR)
DEV_DATASET = Path(os.environ.get("DEV_DATASET", BASE_DIR.parent / "shared/datasets/imagenet-sample-dev"))


def png_bytes(pixels, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def jpeg(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def lite0():
    """EfficientNet-Lite0 in torch, the reference the ONNX runtime is checked against."""
    from ml.torch_encoders import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder()


@pytest.fixture(scope="session")
def glove():
    """GloVe 6B 50d, all 400,000 words, from the wheel."""
    from ml.words import load_glove_6b_50d

    return load_glove_6b_50d()


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:
    """Files of rolled-back tests go to a temporary folder, not the shared test media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def clear_catalogue() -> None:
    from catalog.models import Category, Image

    Image.objects.all().delete()
    Category.objects.all().delete()
    get_user_model().objects.all().delete()


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
) -> Iterator[None]:
    """The test database, always. pytest-django sets up only the databases of the selected tests
    marked `django_db`; without one (say, the browser tests alone) the committing fixtures below
    would write to the development database."""
    from django.test.utils import setup_databases, teardown_databases

    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"}, keepdb=keepdb)
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(config, verbosity=0)


@pytest.fixture(scope="session")
def word_space(django_db_setup, django_db_blocker):
    """The default word space (the sentence space, SENTENCE_VOCABULARY_SIZE words), committed
    once per test database (kept by --reuse-db)."""
    from spaces.services import ensure_default_word_space

    with django_db_blocker.unblock():
        yield ensure_default_word_space()


@pytest.fixture(scope="session")
def glove_space(word_space, django_db_blocker):
    """GloVe 6B 50-d (WORD_VECTORS_LIMIT words) beside it, retired: still a word space one can
    switch to, import and search in."""
    from spaces.services import ensure_glove_word_space

    with django_db_blocker.unblock():
        yield ensure_glove_word_space()


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker, word_space) -> Iterator[None]:
    with django_db_blocker.unblock():
        clear_catalogue()
        yield
        clear_catalogue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_database_url() -> str:
    """DATABASE_URL of the test database, for the processes that tests start (worker, web server)."""
    from django.db import connection

    database = connection.settings_dict
    # A socket folder is in OPTIONS when the URL said `?host=/path` (as .local/servers.env does).
    host = str(database["HOST"] or database.get("OPTIONS", {}).get("host", ""))
    if host.startswith("/"):
        return f"postgresql://{database['USER']}:@/{database['NAME']}?host={host}"
    return f"postgresql://{database['USER']}:{database['PASSWORD']}@{host}:{database['PORT']}/{database['NAME']}"


def subprocess_environment() -> dict[str, str]:
    """The environment of a process that tests start: test settings, database and Redis database."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": subprocess_database_url()}


@contextmanager
def running_worker(
    *options: str, log_name: str = "test-worker.log", env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process, stopped on exit; its output goes to .local/<log_name>."""
    with open(BASE_DIR / ".local" / log_name, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO", *options],
            cwd=BASE_DIR,
            env={**subprocess_environment(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    """A real worker process (solo pool) for the whole session."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # no tasks left from earlier runs
    with running_worker("--pool=solo") as process:
        yield process


@pytest.fixture
def wait_until_settled() -> Callable[..., object]:
    def wait(image, timeout: float = 120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            image.refresh_from_db()
            if image.is_settled:
                return image
            time.sleep(0.2)
        worker_log = (BASE_DIR / ".local" / "test-worker.log").read_text()[-3000:]
        raise AssertionError(f"{image} still {image.status} after {timeout}s. Worker log:\n{worker_log}")

    return wait


STAFF_PASSWORD = "correct horse battery"


@pytest.fixture
def staff_user(committed_db):
    return get_user_model().objects.create_superuser("staff", "staff@example.com", STAFF_PASSWORD)


def log_in_to_admin(page, site_url: str, path: str, username: str = "staff") -> None:
    """Log in through the admin's form (Playwright `page`), then open `path`."""
    page.goto(f"{site_url}/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{site_url}{path}")


@pytest.fixture(scope="session")
def site(django_db_setup, django_db_blocker) -> Iterator[LiveServer]:
    """The website on a real socket, seeing committed rows (see the module docstring)."""
    with django_db_blocker.unblock():
        server = LiveServer("localhost")
        yield server
        server.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    }


DEMO_LOADERS = {"chelsea": "Animals", "coffee": "Food", "astronaut": "People", "rocket": "Transport"}


def add_processed_images(items: list[tuple[bytes, str, str, str]]) -> list:
    """Create catalogue items from (bytes, filename, title, category) and process them in this
    process with the worker's own code (the worker process itself is tested elsewhere)."""
    from catalog import services
    from ingest import pipeline

    images = [
        services.create_image(
            data=data,
            filename=filename,
            title=title,
            category=services.get_or_create_category(category),
        )
        for data, filename, title, category in items
    ]
    ids = [image.pk for image in images]
    for start in range(0, len(ids), 32):
        pipeline.process_images(ids[start : start + 32], run="test")
    for image in images:
        image.refresh_from_db()
    return images


@pytest.fixture(scope="module")
def demo_catalogue(django_db_setup, django_db_blocker, word_space) -> Iterator[dict]:
    """Four processed demo photos, committed for the module, keyed by skimage loader name."""
    from skimage import data

    with django_db_blocker.unblock():
        clear_catalogue()
        items = [
            (png_bytes(getattr(data, name)()), f"{name}.png", name.title(), cat) for name, cat in DEMO_LOADERS.items()
        ]
        images = add_processed_images(items)
        yield dict(zip(DEMO_LOADERS, images, strict=True))
        clear_catalogue()


def dev_photos(counts: dict[str, int], unlabelled: int = 0) -> list[tuple[bytes, str, str, str]]:
    """Items for `add_processed_images` from the development photos: the first `counts[c]` photos
    of each Pascal category c, and `unlabelled` photos without one (category "other", which word
    models are not trained on: mark it so after processing, see `mark_unlabelled`)."""
    import csv

    assert DEV_DATASET.is_dir(), f"The development photos are not at {DEV_DATASET}; set DEV_DATASET."
    with (DEV_DATASET / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    chosen = []
    for category, count in counts.items():
        chosen += [row for row in rows if row["pascal_category"] == category][:count]
    chosen += [row for row in rows if not row["pascal_category"]][:unlabelled]
    return [
        (
            (DEV_DATASET / row["file"]).read_bytes(),
            row["file"],
            row["imagenet_label"],
            row["pascal_category"] or "other",
        )
        for row in chosen
    ]


def mark_unlabelled(name: str = "other") -> None:
    from catalog.models import Category

    Category.objects.filter(name=name).update(trained_on=False)


def remove_trained_spaces() -> None:
    """Delete the spaces that tests trained (with their index and files); the zero-shot space
    of each becomes active again where a trained one was."""
    from spaces import services as spaces_services
    from spaces.models import EmbeddingSpace, JointModel

    for model in JointModel.objects.select_related("space__word_space", "image_space"):
        if model.space.state == EmbeddingSpace.State.ACTIVE:
            conse = EmbeddingSpace.objects.get(
                name=EmbeddingSpace.conse_name(model.image_space.name, model.space.word_space)
            )
            spaces_services.activate_space(conse)
            model.space.refresh_from_db()
        JointModel.objects.filter(pk=model.pk).update(state=JointModel.State.FAILED)
        model.state = JointModel.State.FAILED
        spaces_services.delete_space(model.space)


@pytest.fixture
def one_searchable_item(committed_db) -> None:
    """One processed item (committed), so that searches by a real web server have something to rank."""
    picture = np.random.default_rng(40).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    add_processed_images([(png_bytes(picture), "a.png", "A bird", "Birds")])


FLICKR_DATASET = DEV_DATASET.parent / "flickr8k-dev"


def flickr_photos(words: tuple[str, ...], described: int, undescribed: int) -> list[dict]:
    """Flickr8k dev photos for each word (at least 2 of its 5 captions use it): `described` of them
    with their first caption as description, then `undescribed` with none. Rows: file, path,
    word, description (empty for the undescribed), captions."""
    import csv

    from bench.flickr_queries import relevant_flickr

    with (FLICKR_DATASET / "captions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    captions = [[row[f"caption_{i}"] for i in range(1, 6)] for row in rows]
    chosen: list[dict] = []
    taken: set[int] = set()
    for word in words:
        found = [i for i in np.flatnonzero(relevant_flickr(word, captions)) if i not in taken]
        found = found[: described + undescribed]
        taken.update(found)
        for number, i in enumerate(found):
            description = captions[i][0] if number < described else ""
            chosen.append({"file": rows[i]["file"], "path": FLICKR_DATASET / rows[i]["file"], "word": word,
                           "description": description, "captions": captions[i]})  # fmt: skip
    return chosen


@pytest.fixture
def db_access(catalogue, django_db_blocker) -> Iterator[None]:
    """Committed rows for a test over its module's `catalogue`; trained spaces removed after."""
    with django_db_blocker.unblock():
        yield
        remove_trained_spaces()
