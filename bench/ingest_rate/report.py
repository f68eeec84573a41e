"""The ingest benchmark's report: end-to-end rates and encoder rates against issue #10's targets."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from rich.console import Console
from rich.table import Table

from bench.ingest_rate.encoders import EncoderRate
from bench.ingest_rate.end_to_end import EndToEnd
from bench.report import write_section
from bench.system import cpu_model

TARGET_RATE = 40.0  # images/second end to end (issue #10)
TARGET_RATIO = 15.0  # end to end against VGG16 featurisation alone


def markdown_table(columns: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(columns) + " |",
        "|---|" + "---:|" * (len(columns) - 1),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def write_report(
    dataset: Path, runs: list[EndToEnd], encoders: list[EncoderRate], load: float, console: Console
) -> None:
    """The tables on the console, then the section "Ingest" of docs/benchmarks.md with each target's verdict."""
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
        [rate.name, rate.threads, str(rate.photos), f"{rate.rate:.1f}", f"{1000 / rate.rate:.1f}"] for rate in encoders
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
        console.print(table)
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
    console.print("\n".join(verdicts).replace("**", ""))
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
