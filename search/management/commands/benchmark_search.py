"""Search benchmark: HNSW against exact search on a catalogue grown to --items rows.

Synthetic items (real vectors of the catalogue plus noise) are added inside a transaction that
is rolled back at the end, so the catalogue is left as it was. Reported: latency of each search
mode, the ratio of index to exact latency measured in the same run, and recall@k of the index.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from rich.console import Console
from rich.table import Table

from catalog.models import Category, Image
from search import modes, queries, selectors
from search.management.commands._report import write_section
from search.models import EmbeddingSpace, ImageEmbedding

Kind = EmbeddingSpace.Kind


class Rollback(Exception):
    pass


def timed(function: Callable[[], object], repeats: int) -> tuple[list[float], list[object]]:
    durations, results = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        results.append(function())
        durations.append((time.perf_counter() - start) * 1000)
    return durations, results


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--items", type=int, default=10_000)
        parser.add_argument("--queries", type=int, default=30)
        parser.add_argument("--k", type=int, default=10)

    def handle(self, *args, items: int, queries: int, k: int, **options) -> None:
        image_space, joint_space = selectors.active_space(Kind.IMAGE), selectors.active_space(Kind.JOINT)
        meaning_space = selectors.active_space(Kind.MEANING)
        if image_space is None or joint_space is None or meaning_space is None:
            raise CommandError("No processed images yet: run `manage.py load_demo` and a worker first.")
        seeds = list(ImageEmbedding.objects.filter(space=image_space).values_list("image_id", flat=True)[:200])
        self.console = Console()
        try:
            with transaction.atomic():
                self.grow([image_space, meaning_space, joint_space], seeds, items)
                self.measure(image_space, seeds[:queries], k)
                raise Rollback
        except Rollback:
            self.console.print("Synthetic items rolled back.")

    def grow(self, spaces: list[EmbeddingSpace], seeds: list[int], items: int) -> None:
        rng = np.random.default_rng(0)
        base = {space.pk: np.stack([queries.stored_vector(seed, space) for seed in seeds]) for space in spaces}
        category = Category.objects.create(name=f"benchmark {uuid.uuid4()}", slug=f"benchmark-{uuid.uuid4()}")
        created = Image.objects.bulk_create(
            Image(title=f"synthetic {n}", category=category, original="benchmark.jpg", sha256=uuid.uuid4().hex * 2,
                  status=Image.Status.READY)
            for n in range(items)
        )  # fmt: skip
        start = time.perf_counter()
        for space in spaces:
            vectors = base[space.pk][rng.integers(0, len(seeds), items)]
            noise = rng.normal(0, vectors.std(), vectors.shape).astype(np.float32)
            ImageEmbedding.objects.bulk_create(
                (
                    ImageEmbedding(image=image, space=space, embedding=vector)
                    for image, vector in zip(created, vectors + noise, strict=True)
                ),
                batch_size=1000,
            )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE search_imageembedding")
            cursor.execute("ANALYZE catalog_image")
        self.console.print(f"Added {items} synthetic items in {time.perf_counter() - start:.1f} s (vectors + index).")

    def measure(self, image_space: EmbeddingSpace, seeds: list[int], k: int) -> None:
        vectors = [queries.stored_vector(seed, image_space) for seed in seeds]
        words = ["dog", "cat sofa", "ocean", "street", "red car", "bird -cat"]
        tabby = queries.focus_weights(image_space, 281)

        def similar(i: int) -> object:
            return selectors.nearest_images(image_space, vectors[i % len(vectors)], k=k)

        def words_to_images(i: int) -> object:
            return modes.images_for_words(words[i % len(words)], modes.Filters(k=k)).hits

        def focused(i: int) -> object:
            return selectors.nearest_images(image_space, vectors[i % len(vectors)], k=k, weights=tabby)

        def similar_words(i: int) -> object:
            return modes.similar_words(words[i % len(words)], k=k).words

        items = list(Image.objects.filter(pk__in=seeds).select_related("category"))

        def more_like_this(similarity: str) -> Callable[[int], object]:
            def search(i: int) -> object:
                item = items[i % len(items)]
                return modes.similar_items(item, modes.Filters(k=k), similarity=similarity).hits

            return search

        cases: dict[str, Callable[[int], object]] = {
            "similar items (image space)": similar,
            "words to images (joint space)": words_to_images,
            "focus on a class (exact)": focused,
            "similar words (word space)": similar_words,
            "more like this, visual (API mode)": more_like_this("visual"),
            "more like this, meaning (API mode)": more_like_this("meaning"),
            "more like this, blend (API mode)": more_like_this("blend"),
        }
        title = f"Search latency, {Image.objects.count()} items, k={k}"
        columns = ("mode", "p50 ms (index)", "p95 ms", "p50 ms (exact)", "exact/index", "recall@k")
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        rows: list[list[str]] = []
        runs = len(seeds)
        for name, case in cases.items():
            counter = iter(range(10**6))
            indexed, indexed_results = timed(lambda case=case, counter=counter: case(next(counter)), runs)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_indexscan = off")
            counter = iter(range(10**6))
            exact, exact_results = timed(lambda case=case, counter=counter: case(next(counter)), runs)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_indexscan = on")
            recall = statistics.mean(
                len(set(map(key, got)) & set(map(key, want))) / max(len(want), 1)
                for got, want in zip(indexed_results, exact_results, strict=True)
            )
            p50, p50_exact = statistics.median(indexed), statistics.median(exact)
            row = [
                name,
                f"{p50:.1f}",
                f"{np.percentile(indexed, 95):.1f}",
                f"{p50_exact:.1f}",
                f"{p50_exact / p50:.1f}x",
                f"{recall:.3f}",
            ]
            table.add_row(*row)
            rows.append(row)
        self.console.print(table)
        lines = [
            f"{title}, measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores by `./dev bench`",
            "(`manage.py benchmark_search`), in-process (no HTTP). Synthetic items are real catalogue",
            'vectors plus Gaussian noise of their own spread, rolled back afterwards. "exact" is the same',
            "query with index scans off.",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
            *("| " + " | ".join(row) + " |" for row in rows),
        ]
        write_section(settings.BASE_DIR / "docs" / "benchmarks.md", "Search latency", "\n".join(lines))


def key(result: object) -> object:
    return result.image.pk if isinstance(result, selectors.Hit) else result[0]
