"""Search at catalogue scale: 10k, 100k and 1M items, over HTTP through gunicorn.

Works on a copy of the catalogue's database (`CREATE DATABASE <name>_scale TEMPLATE <name>`,
dropped at the end; the word vectors come with it), whose catalogue is replaced by synthetic items
drawn around the development photos (see `bench/scale/synthetic.py`). At each size: every space's HNSW index is
built from scratch (time, size), its recall@10 measured against exact search in numpy, focused
search (HNSW candidates, exact re-rank) against the exact focused scan, Annoy (the tutorial's
index) over the same vectors in the same run, then gunicorn serves the copy and each search mode is
timed over HTTP (p50/p95/p99, one client), and throughput measured with 1, 4 and 16 clients.
Writes the section "Search at scale" of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bench.dev_photos import ENCODINGS_CACHE, default_dataset, load_dev_set
from bench.report import write_section
from bench.scale.annoy_baseline import AnnoyBaseline
from bench.scale.catalogue import SPACE_KINDS, Kind, ScaleCatalogue, scale_database
from bench.scale.http_load import HttpLoad, search_modes
from bench.scale.recall import build_index, focused_recall, index_recall, word_index_recall
from bench.scale.report import render
from bench.scale.results import SizeResult, WordIndex
from spaces.models import EmbeddingSpace

REPORT = settings.BASE_DIR / "docs" / "benchmarks.md"
RESULTS = settings.BASE_DIR / ".local" / "benchmark-scale.json"
# Past this many items only the word space is filled (see `measure`): on 2 cores the image and
# meaning indexes of a million items take longer to build than the whole benchmark may run.
ALL_SPACES_MAX = 100_000


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sizes", default="10000,100000,1000000", help="Catalogue sizes, comma-separated.")
        parser.add_argument("--quick", action="store_true", help="One small size, few requests: under 2 minutes.")
        parser.add_argument("--requests", type=int, default=200, help="Timed requests per search mode and size.")
        parser.add_argument("--seconds", type=float, default=10.0, help="Length of each throughput run.")
        parser.add_argument("--dataset", type=Path, default=default_dataset())
        parser.add_argument("--port", type=int, default=8078)
        parser.add_argument("--keep", action="store_true", help="Keep the database copy (<name>_scale) to inspect.")
        parser.add_argument("--report-only", action="store_true", help=f"Write the report from {RESULTS.name}.")

    def handle(self, *args, sizes: str, quick: bool, requests: int, seconds: float, **options) -> None:
        wanted = [2_000] if quick else sorted(int(size) for size in sizes.split(","))
        self.load = HttpLoad(options["port"], *((30, 2.0) if quick else (requests, seconds)))
        self.dataset = options["dataset"]
        if not (self.dataset / "labels.csv").is_file():
            raise CommandError(f"No development photos at {self.dataset} (set DEV_DATASET).")
        self.dev = load_dev_set(self.dataset, ENCODINGS_CACHE)
        self.rng = np.random.default_rng(0)
        if options["report_only"]:
            saved = json.loads(RESULTS.read_text())
            results = [SizeResult.from_json(result) for result in saved["sizes"]]
            self.report(results, WordIndex(**saved["words"]), saved["elapsed"], quick)
            return
        results = []
        started_at = time.monotonic()
        with scale_database(keep=options["keep"]) as url:
            self.catalogue = ScaleCatalogue(self.dev, self.dataset, self.rng)
            self.annoy = AnnoyBaseline()
            words = word_index_recall(self.catalogue)
            for size in wanted:
                results.append(self.measure(size, url))
                elapsed = time.monotonic() - started_at
                self.stdout.write(f"{size:,} items done after {elapsed:.0f} s")
                # Kept as they come (--report-only writes the report from them): a million items
                # take long to measure again.
                saved = {"sizes": [asdict(r) for r in results], "words": asdict(words), "elapsed": elapsed}
                RESULTS.write_text(json.dumps(saved, indent=1))
        self.report(results, words, time.monotonic() - started_at, quick)

    def log(self, message: str) -> None:
        self.stdout.write(f"[{time.strftime('%H:%M:%S')}] {message}")
        self.stdout.flush()

    def measure(self, size: int, url: str) -> SizeResult:
        """Grow the catalogue to `size` and measure. Up to ALL_SPACES_MAX items every space is
        filled; beyond, new items get word-space vectors only and the meaning space is switched
        off (word search then ranks by the word space and text alone), so that the word index
        and word search are measured at a million items."""
        catalogue = self.catalogue
        all_spaces = size <= ALL_SPACES_MAX
        kinds = SPACE_KINDS if all_spaces else (Kind.JOINT,)
        result = SizeResult(size)
        with connection.cursor() as cursor:  # rows load faster without them; rebuilt below
            for kind in kinds:
                cursor.execute(f"DROP INDEX IF EXISTS {catalogue.spaces[kind].index_name}")
        start = time.monotonic()
        catalogue.grow(size, kinds)
        result.load_s = time.monotonic() - start
        self.log(f"{size:,} items loaded in {result.load_s:.0f} s")
        if not all_spaces:
            retired = EmbeddingSpace.State.RETIRED
            EmbeddingSpace.objects.filter(pk=catalogue.spaces[Kind.MEANING].pk).update(state=retired)
        probes = self.rng.choice(size, size=min(100, size), replace=False)
        for kind in kinds:
            rows = catalogue.rows(kind)
            build_s, megabytes = build_index(catalogue.spaces[kind])
            recall, latency = index_recall(catalogue, catalogue.spaces[kind], rows, probes)
            result.index[kind] = (build_s, megabytes, recall, latency)
            self.log(f"{kind} index built in {build_s:.0f} s, recall {recall:.3f}")
            if kind == Kind.IMAGE:
                result.focused = focused_recall(catalogue, rows, probes[:30])
                self.log("focused search measured")
                result.annoy = self.annoy.measure_all(rows, probes)
                self.log("Annoy measured")
            del rows
        modes = search_modes(catalogue, self.dataset, self.load.requests, all_spaces)
        result.http, result.throughput = self.load.measure(url, modes)
        return result

    def report(self, results: list[SizeResult], words: WordIndex, elapsed: float, quick: bool) -> None:
        text = render(results, words, elapsed, quick)
        write_section(REPORT, "Search at scale", text)
        self.stdout.write(text)
