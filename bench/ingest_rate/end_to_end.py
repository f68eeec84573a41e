"""The ingest benchmark end to end: photos imported with `import_images` while a real Celery
worker, started here, processes them; the clock runs until every item is ready or failed."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import QuerySet
from rich.console import Console

from bench.system import children, cpu_seconds, peak_rss_mb, started
from catalog.models import Category, Image
from ingest import operations

WORKER_LOG = settings.BASE_DIR / ".local" / "bench-ingest-worker.log"


@dataclass(frozen=True)
class EndToEnd:
    processes: int
    photos: int
    import_s: float
    total_s: float
    failed: int
    child_peak_mb: float
    cpu_s: float  # the import, the worker and (when local) PostgreSQL together

    @property
    def rate(self) -> float:
        return self.photos / self.total_s

    @property
    def cpu_ms_per_image(self) -> float:
        return 1000 * self.cpu_s / self.photos

    @property
    def free_cores_rate(self) -> float:
        """What the rate would be if the import, worker and database had every core to themselves."""
        return (os.cpu_count() or 1) * 1000 / self.cpu_ms_per_image


def with_comment(data: bytes, text: str) -> bytes:
    """The JPEG with a comment segment (COM) right after its start marker: the same picture, other bytes."""
    if data[:2] != b"\xff\xd8":
        raise CommandError("The benchmark photos must be JPEG files.")
    comment = text.encode()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


def postgres_pid() -> int | None:
    """The local PostgreSQL server's main process (the parent of this connection's backend), if local."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    status = Path(f"/proc/{backend}/status")
    if not status.exists() or "postgres" not in Path(f"/proc/{backend}/cmdline").read_text():
        return None  # a server on another machine
    return int(next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("PPid:")))


def end_to_end(files: list[Path], processes: int, console: Console) -> EndToEnd:
    """The photos, each made a new item by a comment naming the run, imported and processed by a
    worker with `processes` children; the items are deleted afterwards."""
    run = f"ingest-benchmark-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        photos = Path(folder) / run  # import_images: DIR/<category>/<image>
        photos.mkdir()
        for path in files:
            (photos / path.name).write_bytes(with_comment(path.read_bytes(), run))
        database = postgres_pid()
        with celery_worker(processes, run) as pool:
            try:
                cpu_before = cpu_seconds(pool.pid) + (cpu_seconds(database) if database else 0.0)
                start, import_cpu = time.perf_counter(), time.process_time()
                # tqdm's progress bar goes to sys.stderr, not to the command's.
                with contextlib.redirect_stderr(io.StringIO()):
                    call_command("import_images", folder, stdout=io.StringIO(), stderr=io.StringIO())
                imported, import_cpu = time.perf_counter() - start, time.process_time() - import_cpu
                items = Image.objects.filter(category__name=run)
                total = wait_until_settled(items, len(files), pool) - start
                cpu_after = cpu_seconds(pool.pid) + (cpu_seconds(database) if database else 0.0)
                failed = items.filter(status=Image.Status.FAILED).count()
                peak = max(peak_rss_mb(pid) for pid in children(pool.pid))
            finally:
                delete_category(run)
    cpu = cpu_after - cpu_before + import_cpu
    result = EndToEnd(processes, len(files), imported, total, failed, peak, cpu)
    console.print(
        f"{processes} worker process(es): {result.photos} photos ready in {total:.1f} s "
        f"({result.rate:.1f} images/s; the import took {imported:.1f} s), {failed} failed; "
        f"{result.cpu_ms_per_image:.0f} CPU ms per image."
    )
    return result


@contextlib.contextmanager
def celery_worker(processes: int, run: str) -> Iterator[subprocess.Popen]:
    """A Celery worker with `processes` prefork children, answering before the import starts."""
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork",
        f"--concurrency={processes}", f"--hostname={run}@%h", "--loglevel=WARNING",
    ]  # fmt: skip
    with started(command, dict(os.environ), WORKER_LOG) as worker:
        deadline = time.monotonic() + 120
        while not operations.workers_seen(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"The Celery worker did not start; see {WORKER_LOG}.")
        yield worker


def wait_until_settled(items: QuerySet[Image], count: int, worker: subprocess.Popen) -> float:
    """The time (perf_counter) at which all `count` items were ready or failed."""
    deadline = time.monotonic() + 600
    settled = (Image.Status.READY, Image.Status.FAILED)
    while time.monotonic() < deadline:
        if items.filter(status__in=settled).count() == count:
            return time.perf_counter()
        if worker.poll() is not None:
            raise CommandError("The Celery worker stopped; see .local/bench-ingest-worker.log.")
        time.sleep(0.1)
    raise CommandError(f"The photos were not all processed within 10 minutes: {items.count()} imported.")


def delete_category(name: str) -> None:
    """The benchmark's items, their files and their category (their vectors go with them)."""
    items = Image.objects.filter(category__name=name)
    for image in items:
        for stored in (image.original, image.thumbnail):
            if stored:
                stored.storage.delete(stored.name)
    items.delete()
    Category.objects.filter(name=name).delete()
