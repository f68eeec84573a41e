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
from bench.scale.catalogue import SEED_ITEMS, SPACE_KINDS, Kind, ScaleCatalogue, scale_database
from bench.scale.http_load import HttpLoad, search_modes
from bench.scale.recall import build_index, focused_recall, index_recall, word_index_recall
from bench.scale.report import render
from bench.scale.results import SizeResult, WordIndex
from spaces import vector_sql

REPORT = settings.BASE_DIR / "docs" / "benchmarks.md"
RESULTS = settings.BASE_DIR / ".local" / "benchmark-scale.json"
# Annoy (the tutorial's index) and the exact focused scan are measured up to this size: both
# read every vector, and Annoy holds them all in memory.
ANNOY_MAX = 100_000
# The sweep behind the index settings: ef_search at every size (in-process, after each build),
# other graphs (m, ef_construction) built at SWEEP_AT beside the setting's.
EF_SEARCHES = (40, 200, 400)
SWEEP_AT = 100_000
BUILD_SWEEP = ((16, 64), (16, 128), (24, 128))  # each beside the setting's (skipped when it is one)


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
        wanted = [SEED_ITEMS + 1_000] if quick else sorted(int(size) for size in sizes.split(","))  # derived ones too
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
        """Grow the catalogue to `size` (every space filled) and measure."""
        catalogue = self.catalogue
        result = SizeResult(size)
        with connection.cursor() as cursor:  # rows load faster without them; rebuilt below
            for kind in SPACE_KINDS:
                cursor.execute(f"DROP INDEX IF EXISTS {catalogue.spaces[kind].index_name}")
        start = time.monotonic()
        catalogue.grow(size)
        result.load_s = time.monotonic() - start
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_table_size('spaces_imageembedding')")
            result.vectors_mb = cursor.fetchone()[0] / 2**20
        self.log(f"{size:,} items loaded in {result.load_s:.0f} s")
        probe_ids = [catalogue.ids[row] for row in self.rng.choice(size, size=min(100, size), replace=False)]
        for kind in SPACE_KINDS:
            space = catalogue.spaces[kind]
            setting = vector_sql.graph_parameters(kind)
            for build in [build for build in BUILD_SWEEP if build != setting] if size == SWEEP_AT else []:
                build_s, megabytes = build_index(space, build)
                recall, latency = index_recall(catalogue, kind, probe_ids)[0]
                result.builds.setdefault(kind, {})[f"{build[0]},{build[1]}"] = (build_s, megabytes, recall, latency)
                self.log(f"{kind} index with (m, ef_construction) {build}: {build_s:.0f} s, recall {recall:.3f}")
            build_s, megabytes = build_index(space)
            recalls = index_recall(catalogue, kind, probe_ids, EF_SEARCHES)
            result.index[kind] = (build_s, megabytes, *recalls[0])
            result.ef_sweep[kind] = {ef: recalls[ef] for ef in EF_SEARCHES}
            self.log(f"{kind} index built in {build_s:.0f} s, recall {recalls[0][0]:.3f}")
        result.focused = focused_recall(catalogue, probe_ids[:30], time_exact=size <= ANNOY_MAX)
        self.log("focused search measured")
        if size <= ANNOY_MAX:
            result.annoy = self.annoy.measure_all(catalogue.spaces[Kind.IMAGE], probe_ids)
            self.log("Annoy measured")
        modes = search_modes(catalogue, self.dataset, self.load.requests)
        result.http, result.throughput = self.load.measure(url, modes)
        return result

    def report(self, results: list[SizeResult], words: WordIndex, elapsed: float, quick: bool) -> None:
        text = render(results, words, elapsed, quick)
        write_section(REPORT, "Search at scale", text)
        self.stdout.write(text)
