"""Ingest benchmark: development photos end to end, and the image encoders alone.

End to end: the photos are imported with `import_images` into a category of their own while real
Celery workers, started here against the configured broker, process them; the clock runs from the
start of the import until every item is ready. Once with one worker process, once with --workers
processes (prefork children). Each photo gets a JPEG comment naming the run, so that it is a new
item even in a catalogue that already holds it. The items, their files and the category are
deleted afterwards: the catalogue is left as it was (embedding spaces aside, created if missing).

Encoders alone: the same photos, decoded as the worker decodes them, through each encoder and
runtime available, in batches of EMBED_BATCH_SIZE: EfficientNet-Lite0 in ONNX Runtime and in
torch, and the tutorial's VGG16 (torchvision, fc7 features) as the baseline. VGG16 runs with random
weights (its ImageNet weights cannot be downloaded here); the computation, so the time, is the same.
"""

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
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from PIL import Image as PILImage
from rich.console import Console
from rich.table import Table

from bench.management.commands._report import write_section
from bench.management.commands.benchmark_processes import children
from catalog.models import Category, Image
from ingest import operations
from ml.encoding import ImageEncoder
from ml.images import PROCESSING_SIZE, decode_image

TARGET_RATE = 40.0  # images/second end to end (issue #10)
TARGET_RATIO = 15.0  # end to end against VGG16 featurisation alone
DATASET_NAME = "shared/datasets/imagenet-sample-dev"


def default_dataset() -> Path:
    """$DEV_DATASET, else the development photos beside the project, else in the machine's shared folder."""
    if os.environ.get("DEV_DATASET"):
        return Path(os.environ["DEV_DATASET"])
    beside = settings.BASE_DIR.parent / DATASET_NAME
    return beside if beside.is_dir() else Path("/work") / DATASET_NAME


def jpeg_files(dataset: Path) -> list[Path]:
    return sorted(path for path in dataset.iterdir() if path.suffix.lower() in (".jpg", ".jpeg"))


def with_comment(data: bytes, text: str) -> bytes:
    """The JPEG with a comment segment (COM) right after its start marker: the same picture, other bytes."""
    if data[:2] != b"\xff\xd8":
        raise CommandError("The benchmark photos must be JPEG files.")
    comment = text.encode()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, its children that ended (waited for) and those still running."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # ended meanwhile: its time is in its parent's
        return 0.0
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK") + sum(cpu_seconds(child) for child in children(pid))


def postgres_pid() -> int | None:
    """The local PostgreSQL server's main process (the parent of this connection's backend), if local."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    status = Path(f"/proc/{backend}/status")
    if not status.exists() or "postgres" not in Path(f"/proc/{backend}/cmdline").read_text():
        return None  # a server on another machine
    return int(next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("PPid:")))


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


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


@dataclass(frozen=True)
class EncoderRate:
    name: str
    threads: str
    photos: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.photos / self.seconds


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dataset", type=Path, default=None, help="A folder of JPEG photos (default: $DEV_DATASET)."
        )
        parser.add_argument("--photos", type=int, default=500, help="Photos to import (default: 500).")
        parser.add_argument(
            "--workers", type=int, default=os.cpu_count() or 1, help="Worker processes of the second run."
        )
        parser.add_argument("--vgg16-photos", type=int, default=48, help="Photos VGG16 encodes (about 0.4 s each).")
        parser.add_argument("--quick", action="store_true", help="100 photos and 16 for VGG16; under a minute.")

    def handle(
        self, *args, dataset: Path | None, photos: int, workers: int, vgg16_photos: int, quick: bool, **options
    ) -> None:
        if quick:
            photos, vgg16_photos = min(photos, 100), min(vgg16_photos, 16)
        dataset = dataset or default_dataset()
        files = jpeg_files(dataset)[:photos] if dataset.is_dir() else []
        if not files:
            raise CommandError(f"No JPEG photos at {dataset}; pass --dataset or set DEV_DATASET.")
        if operations.workers_seen():
            raise CommandError("Other Celery workers answer on this broker; stop them, they would take the batches.")
        self.console = Console()
        call_command("prepare_models", stdout=io.StringIO())
        load = os.getloadavg()[0]
        runs = [self.end_to_end(files, processes) for processes in dict.fromkeys([1, workers])]
        encoders = self.encoders(files, vgg16_photos)
        self.report(dataset, runs, encoders, load)

    # --- End to end ------------------------------------------------------------------------

    def end_to_end(self, files: list[Path], processes: int) -> EndToEnd:
        run = f"ingest-benchmark-{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory() as folder:
            photos = Path(folder) / run  # import_images: DIR/<category>/<image>
            photos.mkdir()
            for path in files:
                (photos / path.name).write_bytes(with_comment(path.read_bytes(), run))
            database = postgres_pid()
            with self.workers(processes, run) as pool:
                try:
                    cpu_before = cpu_seconds(pool.pid) + (cpu_seconds(database) if database else 0.0)
                    started, import_cpu = time.perf_counter(), time.process_time()
                    # tqdm's progress bar goes to sys.stderr, not to the command's.
                    with contextlib.redirect_stderr(io.StringIO()):
                        call_command("import_images", folder, stdout=io.StringIO(), stderr=io.StringIO())
                    imported, import_cpu = time.perf_counter() - started, time.process_time() - import_cpu
                    items = Image.objects.filter(category__name=run)
                    total = self.wait_until_settled(items, len(files), pool) - started
                    cpu_after = cpu_seconds(pool.pid) + (cpu_seconds(database) if database else 0.0)
                    failed = items.filter(status=Image.Status.FAILED).count()
                    peak = max(peak_rss_mb(pid) for pid in children(pool.pid))
                finally:
                    delete_category(run)
        cpu = cpu_after - cpu_before + import_cpu
        result = EndToEnd(processes, len(files), imported, total, failed, peak, cpu)
        self.console.print(
            f"{processes} worker process(es): {result.photos} photos ready in {total:.1f} s "
            f"({result.rate:.1f} images/s; the import took {imported:.1f} s), {failed} failed; "
            f"{result.cpu_ms_per_image:.0f} CPU ms per image."
        )
        return result

    @contextlib.contextmanager
    def workers(self, processes: int, run: str) -> Iterator[subprocess.Popen]:
        """A Celery worker with `processes` prefork children, answering before the import starts."""
        log = settings.BASE_DIR / ".local" / "bench-ingest-worker.log"
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork",
            f"--concurrency={processes}", f"--hostname={run}@%h", "--loglevel=WARNING",
        ]  # fmt: skip
        with open(log, "w") as handle:
            worker = subprocess.Popen(command, cwd=settings.BASE_DIR, stdout=handle, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 120
                while not operations.workers_seen(timeout=0.5):
                    if worker.poll() is not None or time.monotonic() > deadline:
                        raise CommandError(f"The Celery worker did not start; see {log}.")
                yield worker
            finally:
                worker.terminate()
                worker.wait(timeout=60)

    def wait_until_settled(self, items, count: int, worker: subprocess.Popen) -> float:
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

    # --- Encoders alone --------------------------------------------------------------------

    def encoders(self, files: list[Path], vgg16_photos: int) -> list[EncoderRate]:
        """Each encoder with the worker's threads per process (ENCODER_THREADS) and with all cores."""
        from ml.onnx_encoder import load_or_export

        pictures = [decode_image(path.read_bytes(), at_least=PROCESSING_SIZE).picture for path in files]
        thread_counts = list(dict.fromkeys([settings.ENCODER_THREADS, 0]))
        rates = [
            self.timed(
                "EfficientNet-Lite0, ONNX Runtime",
                threads,
                pictures,
                load_or_export("efficientnet_lite0", Path(settings.MODEL_DIR), threads=threads),
            )
            for threads in thread_counts
        ]
        try:
            import torch

            from ml.torch_encoders import EfficientNetLite0Encoder, VGG16Encoder
        except ImportError:
            self.console.print("torch is not installed: the torch runtime and VGG16 are left out.")
            return rates
        all_cores = torch.get_num_threads()
        lite0 = EfficientNetLite0Encoder()
        for threads in thread_counts:
            torch.set_num_threads(threads or all_cores)
            rates.append(self.timed("EfficientNet-Lite0, torch", threads, pictures, lite0))
        torch.set_num_threads(all_cores)
        vgg16 = VGG16Encoder(random_init=True)
        rates.append(self.timed("VGG16 fc7, torch (baseline)", 0, pictures[:vgg16_photos], vgg16))
        return rates

    def timed(self, name: str, threads: int, pictures: list[PILImage.Image], encoder: ImageEncoder) -> EncoderRate:
        size = settings.EMBED_BATCH_SIZE
        encoder.encode(pictures[:size])  # warm-up: first-run allocations and kernel choices
        started = time.perf_counter()
        for start in range(0, len(pictures), size):
            encoder.encode(pictures[start : start + size])
        seconds = time.perf_counter() - started
        label = str(threads) if threads else f"all ({os.cpu_count()} cores)"
        result = EncoderRate(name, label, len(pictures), seconds)
        self.console.print(f"{name}, threads {label}: {result.rate:.1f} images/s")
        return result

    # --- Report ----------------------------------------------------------------------------

    def report(self, dataset: Path, runs: list[EndToEnd], encoders: list[EncoderRate], load: float) -> None:
        best = max(runs, key=lambda run: run.rate)
        baseline = next((rate for rate in encoders if rate.name.startswith("VGG16")), None)
        end_to_end_rows = [
            [
                f"{run.processes} (`--concurrency={run.processes}`)",
                str(run.photos),
                f"{run.import_s:.1f}",
                f"{run.total_s:.1f}",
                f"**{run.rate:.1f}**",
                f"{run.cpu_ms_per_image:.0f}",
                f"{run.free_cores_rate:.0f}",
                f"{run.child_peak_mb:.0f}",
                str(run.failed),
            ]
            for run in runs
        ]
        encoder_rows = [
            [rate.name, rate.threads, str(rate.photos), f"{rate.rate:.1f}", f"{1000 / rate.rate:.1f}"]
            for rate in encoders
        ]
        end_to_end_columns = (
            "worker processes", "photos", "import s", "all ready s", "images/s", "CPU ms/image",
            "images/s, free cores", "peak MB per child", "failed",
        )  # fmt: skip
        encoder_columns = ("encoder", "threads", "photos", "images/s", "ms/image")
        for title, columns, rows in (
            ("End to end: import_images until every item is ready", end_to_end_columns, end_to_end_rows),
            (f"Encoders alone, batches of {settings.EMBED_BATCH_SIZE}", encoder_columns, encoder_rows),
        ):
            table = Table(title=title)
            for column in columns:
                table.add_column(column)
            for row in rows:
                table.add_row(*(cell.replace("**", "").replace("`", "") for cell in row))
            self.console.print(table)
        verdicts = [
            f"Best end to end: **{best.rate:.1f} images/s** with {best.processes} worker process(es) "
            f"(target ≥ {TARGET_RATE:.0f}: {'met' if best.rate >= TARGET_RATE else 'not met'})."
        ]
        if baseline is not None:
            ratio = best.rate / baseline.rate
            verdicts.append(
                f"That is **{ratio:.1f}x** the tutorial's VGG16 featurisation alone ({baseline.rate:.2f} images/s "
                f"on all cores, no decoding, no database), measured in the same run "
                f"(target ≥ {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'not met'})."
            )
        self.console.print("\n".join(verdicts).replace("**", ""))
        lines = [
            f"Measured {timezone.now():%Y-%m-%d} on {cpu_model()}, {os.cpu_count()} CPU cores (load average "
            f"{load:.1f} when it started; the cores are shared), by `./dev bench` (`manage.py benchmark_ingest`). "
            f"Photos: {runs[0].photos} from `{dataset.name}` (about 500x375 pixels); encoder "
            f"`{settings.IMAGE_ENCODER}` in `{settings.ENCODER_RUNTIME}`, {settings.ENCODER_THREADS} thread(s) "
            f"per process, batches of {settings.EMBED_BATCH_SIZE}.",
            "",
            "End to end: `import_images` into a category of its own while a Celery worker (started by the "
            "benchmark, each child loading its model on its first batch) processes the batches; the clock "
            "stops when every item is ready. The items and their files are deleted afterwards. CPU ms/image: "
            "the CPU time of the import, the worker processes and PostgreSQL (when it runs on this machine) per "
            "photo; images/s on free cores: the cores divided by that, the rate if nothing else ran here.",
            "",
            *markdown_table(end_to_end_columns, end_to_end_rows),
            "",
            "Encoders alone: the photos decoded beforehand as the worker decodes them; VGG16 (the tutorial's "
            "baseline, fc7 features) with random weights, which cost the same as its ImageNet weights.",
            "",
            *markdown_table(encoder_columns, encoder_rows),
            "",
            *verdicts,
        ]
        write_section(settings.BASE_DIR / "docs" / "benchmarks.md", "Ingest", "\n".join(lines))


def markdown_table(columns: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(columns) + " |",
        "|---|" + "---:|" * (len(columns) - 1),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def delete_category(name: str) -> None:
    """The benchmark's items, their files and their category (their vectors go with them)."""
    items = Image.objects.filter(category__name=name)
    for image in items:
        for stored in (image.original, image.thumbnail):
            if stored:
                stored.storage.delete(stored.name)
    items.delete()
    Category.objects.filter(name=name).delete()
