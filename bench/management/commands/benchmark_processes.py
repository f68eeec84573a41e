"""Process benchmark: resident memory of each process kind, and the install size.

Starts the stack as `./dev run` does (gunicorn with config/gunicorn.py, one Celery worker) on the
configured database, then measures resident memory (VmRSS) of the web workers idle and after
--requests mixed requests (searches by photo included), of the Celery parent, and of the Celery
child after it processed the development photos (--photos, imported first if absent, processed
again if present). Writes the figures into docs/benchmarks.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Min
from django.utils import timezone

from bench.http_client import multipart, request
from bench.report import write_section
from bench.system import children, rss_mb, started
from catalog.models import Image
from ingest import tasks

REPORT = settings.BASE_DIR / "docs" / "benchmarks.md"


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--requests", type=int, default=1000)
        default_photos = settings.BASE_DIR.parent / "shared/datasets/imagenet-sample-dev"
        parser.add_argument("--photos", type=Path, default=default_photos, help="A folder with labels.csv.")
        parser.add_argument("--port", type=int, default=8077)

    def handle(self, *args, requests: int, photos: Path, port: int, **options) -> None:
        labels = photos / "labels.csv"
        if not labels.is_file():
            raise CommandError(f"No labelled photos at {photos} (labels.csv).")
        call_command("prepare_models", stdout=self.stdout)
        env = {
            **os.environ,
            "PORT": str(port),
            # The benchmark is one client; do not throttle it.
            **{rate: "1000000/min" for rate in ("SEARCH_RATE", "PHOTO_SEARCH_RATE", "FOCUS_SEARCH_RATE")},
        }
        logs = settings.BASE_DIR / ".local"
        figures: dict[str, float] = {}
        with ExitStack() as stack:
            worker = stack.enter_context(
                started(
                    [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency=1", "--loglevel=WARNING"],
                    env,
                    logs / "bench-worker.log",
                )
            )
            web = stack.enter_context(
                started(
                    [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "config.wsgi"],
                    env,
                    logs / "bench-web.log",
                )
            )
            self.wait_healthy(port, web)
            time.sleep(2)
            figures["web worker, idle"] = max(rss_mb(pid) for pid in children(web.pid))
            figures["celery parent, idle"] = rss_mb(worker.pid)
            statuses, photo_ms = self.mixed_requests(port, requests, photos)
            figures[f"web worker, after {requests} requests"] = max(rss_mb(pid) for pid in children(web.pid))
            processed = self.process_photos(photos, labels)
            figures["celery parent, after the photos"] = rss_mb(worker.pid)
            figures[f"celery child, after processing {processed} photos"] = max(
                rss_mb(pid) for pid in children(worker.pid)
            )
        venv = Path(sys.prefix)
        site = next(venv.glob("lib/python*/site-packages"))
        sizes = {
            "virtualenv in all": folder_mb(venv),
            "torch + torchvision + nvidia (export, training, torch runtime)": sum(
                folder_mb(p) for pattern in ("torch", "torchvision", "nvidia", "triton") for p in site.glob(pattern)
            ),
            "onnxruntime (the runtime web and worker load)": folder_mb(site / "onnxruntime"),
            "exported ONNX models (MODEL_DIR)": folder_mb(Path(settings.MODEL_DIR)),
        }
        self.report(figures, sizes, statuses, requests, photo_ms)

    def wait_healthy(self, port: int, web: subprocess.Popen) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise CommandError("gunicorn exited; see .local/bench-web.log")
            try:
                if request(port, "GET", "/healthz") == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise CommandError("The stack did not become healthy within 3 minutes.")

    def mixed_requests(self, port: int, count: int, photos: Path) -> tuple[Counter, list[float]]:
        ids = list(Image.objects.filter(status=Image.Status.READY).values_list("pk", flat=True)[:200])
        if not ids:
            raise CommandError("No ready items to browse: run `manage.py load_demo` and a worker first.")
        pictures = sorted(photos.glob("*.JPEG"))[:20]
        rng = random.Random(0)
        words = ["cat", "dog sofa", "ocean", "street", "car -truck", "bird", "food", "said"]

        photo_ms: list[float] = []

        def one(n: int) -> int:
            kind = n % 10
            if kind == 0:  # a search by photo in every ten requests: the encoder runs in the web process
                body, headers = multipart("file", "query.jpg", pictures[n % len(pictures)].read_bytes())
                started_at = time.perf_counter()
                status = request(port, "POST", "/api/search/by-photo/?k=12", body, headers)
                photo_ms.append((time.perf_counter() - started_at) * 1000)
                return status
            path = [
                "/",
                f"/images/{rng.choice(ids)}/",
                f"/api/search/images/?q={words[n % len(words)].replace(' ', '+')}",
                f"/api/search/similar/{rng.choice(ids)}/",
                f"/search/?q={words[n % len(words)].replace(' ', '+')}",
                f"/api/search/words/?q={words[n % len(words)].split()[0]}",
                f"/api/images/{rng.choice(ids)}/",
                f"/search/similar/{rng.choice(ids)}/?focus_class=281",
                "/api/images/",
            ][kind - 1]
            return request(port, "GET", path)

        with ThreadPoolExecutor(max_workers=4) as pool:
            return Counter(pool.map(one, range(count))), photo_ms

    def process_photos(self, photos: Path, labels: Path) -> int:
        """The development photos through the worker: imported when absent, processed again otherwise."""
        started_at = timezone.now()
        call_command("import_images", str(photos), labels=labels, column="imagenet_label", stdout=self.stdout)
        digests = [hashlib.sha256(path.read_bytes()).hexdigest() for path in photos.glob("*.JPEG")]
        dataset = Image.objects.filter(sha256__in=digests)
        ids = list(dataset.values_list("pk", flat=True))
        stale = dataset.filter(updated_at__lt=started_at)
        tasks.reprocess(list(stale.values_list("pk", flat=True)))
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            pending = Image.objects.filter(pk__in=ids, updated_at__lt=started_at).count()
            unsettled = Image.objects.filter(pk__in=ids, status__in=[Image.Status.PENDING, Image.Status.PROCESSING])
            if not pending and not unsettled.exists():
                return len(ids)
            time.sleep(1)
        oldest = Image.objects.filter(pk__in=ids).aggregate(Min("updated_at"))
        raise CommandError(f"The worker did not process the photos within 15 minutes ({oldest}).")

    def report(
        self,
        figures: dict[str, float],
        sizes: dict[str, float],
        statuses: Counter,
        requests: int,
        photo_ms: list[float],
    ) -> None:
        lines = [
            f"Measured {timezone.now():%Y-%m-%d} on {os.cpu_count()} CPU cores, encoder runtime "
            f"`{settings.ENCODER_RUNTIME}`, by `./dev bench` (`manage.py benchmark_processes`).",
            "",
            "| process | resident memory (MB) | target |",
            "|---|---:|---:|",
        ]
        targets = {"web worker": 400, "celery parent": 200, "celery child": 700}
        for name, value in figures.items():
            target = next(limit for kind, limit in targets.items() if name.startswith(kind))
            lines.append(f"| {name} | {value:.0f} | ≤ {target} |")
        first, rest = photo_ms[0], sorted(photo_ms[1:]) or [0.0]
        lines += [
            "",
            f"Responses to the {requests} requests (4 concurrent clients): "
            f"{json.dumps(dict(sorted(statuses.items())))}. Search by photo runs the encoder in the web "
            f"process, loaded on first use: the first took {first:.0f} ms, the other {len(rest)} "
            f"p50 {rest[len(rest) // 2]:.0f} ms (amid the other requests).",
            "",
        ]
        lines += ["| installed | size (MB) |", "|---|---:|"]
        lines += [f"| {name} | {value:.0f} |" for name, value in sizes.items()]
        write_section(REPORT, "Process memory", "\n".join(lines))
        self.stdout.write("\n".join(lines))
