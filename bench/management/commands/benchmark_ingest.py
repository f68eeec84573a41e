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

import io
import os
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console

from bench.dev_photos import default_dataset
from bench.ingest_rate.encoders import encoder_rates
from bench.ingest_rate.end_to_end import end_to_end
from bench.ingest_rate.report import write_report
from ingest import operations


def jpeg_files(dataset: Path) -> list[Path]:
    return sorted(path for path in dataset.iterdir() if path.suffix.lower() in (".jpg", ".jpeg"))


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
        console = Console()
        call_command("prepare_models", stdout=io.StringIO())
        load = os.getloadavg()[0]
        runs = [end_to_end(files, processes, console) for processes in dict.fromkeys([1, workers])]
        write_report(dataset, runs, encoder_rates(files, vgg16_photos, console), load, console)
