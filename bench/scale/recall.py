"""Each space's HNSW index at one catalogue size: its build, its recall@10 against exact search in
numpy, and focused search (HNSW candidates, exact re-rank) against the exact focused scan."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
from django.conf import settings
from django.db import connection
from django.test import override_settings

from bench.scale.catalogue import Kind, ScaleCatalogue
from bench.scale.results import WordIndex
from bench.scale.truth import exact_neighbours
from search import query_vectors, ranking, selectors
from spaces.models import EmbeddingSpace
from spaces.services import create_space_index

FOCUS_SWEEP = (100, 200, 400, 800)  # candidate counts tried for focused search


def exact_top(rows: np.ndarray, query: np.ndarray, k: int, exclude: int) -> set[int]:
    """Rows nearest by cosine, `exclude` left out (rows are unit or not: normalised here)."""
    scores = rows @ query / (np.linalg.norm(rows, axis=1) * np.linalg.norm(query) + 1e-12)
    scores[exclude] = -np.inf
    return set(np.argpartition(-scores, k)[:k].tolist())


def build_index(space: EmbeddingSpace, build: tuple[int, int] | None = None) -> tuple[float, float]:
    """The space's HNSW index built from scratch (with `build`'s (m, ef_construction) instead of
    the setting's, for the sweep): seconds, MB."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {space.index_name}")
        # The graph fits in memory (faster); one parallel helper uses the second core.
        cursor.execute("SET maintenance_work_mem = '8GB'")
        cursor.execute(f"SET max_parallel_maintenance_workers = {max(0, (os.cpu_count() or 1) - 1)}")
        start = time.monotonic()
        with override_settings(HNSW_BUILD={"default": build} if build else settings.HNSW_BUILD):
            create_space_index(space)
        build_s = time.monotonic() - start
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [space.index_name])
        (size,) = cursor.fetchone()
    return build_s, size / 2**20


def _nearest_ids(sql: str, params: list) -> tuple[set[int], float]:
    """The ids a ranking query returns, and its time in ms."""
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        hits = {image_id for image_id, _ in cursor.fetchall()}
    return hits, (time.perf_counter() - start) * 1000


def index_recall(
    catalogue: ScaleCatalogue, kind: str, probe_ids: list[int], ef_searches: tuple[int, ...] = ()
) -> dict[int, tuple[float, float]]:
    """recall@10 of the space's HNSW index against exact search, and its median latency (ms), at
    the setting's ef_search (key 0) and at each of `ef_searches`."""
    space = catalogue.spaces[kind]
    queries = catalogue.vectors(kind, probe_ids)
    truths = exact_neighbours(space, queries, probe_ids)
    results = {}
    for ef_search in (0, *ef_searches):
        found, durations = 0, []
        with connection.cursor() as cursor:
            cursor.execute(f"SET hnsw.ef_search = {ef_search or settings.HNSW_EF_SEARCH}")
        for probe_id, query, truth in zip(probe_ids, queries, truths, strict=True):
            hits, ms = _nearest_ids(*ranking.nearest_images_sql(space, query, k=10, exclude_id=probe_id))
            durations.append(ms)
            found += len(hits & truth)
        results[ef_search] = (found / (10 * len(probe_ids)), statistics.median(durations))
    with connection.cursor() as cursor:
        cursor.execute(f"SET hnsw.ef_search = {settings.HNSW_EF_SEARCH}")
    return results


def focused_recall(
    catalogue: ScaleCatalogue, probe_ids: list[int], *, time_exact: bool
) -> dict[int, tuple[float, float]]:
    """Focused search (HNSW candidates, exact re-rank) for several candidate counts against the
    exact focused scan: candidates -> (recall@10, median ms); 0 is the exact scan itself (timed
    on a few probes, it reads every item; only where `time_exact`)."""
    space = catalogue.spaces[Kind.IMAGE]
    features = catalogue.vectors(Kind.IMAGE, probe_ids)
    weights = np.stack([query_vectors.focus(space, c).weights for c in catalogue.top_classes(probe_ids)])
    truths = exact_neighbours(space, features, probe_ids, weights=weights)
    results: dict[int, tuple[float, float]] = {}
    for candidates in ((0,) if time_exact else ()) + FOCUS_SWEEP:
        found, durations = 0, []
        probes = range(5) if candidates == 0 else range(len(probe_ids))
        for n in probes:
            with override_settings(FOCUS_CANDIDATES=candidates):
                sql, params = ranking.nearest_images_sql(
                    space, features[n], k=10, exclude_id=probe_ids[n], weights=weights[n]
                )
            hits, ms = _nearest_ids(sql, params)
            durations.append(ms)
            found += len(hits & truths[n])
        results[candidates] = (found / (10 * len(durations)), statistics.median(durations))
    return results


def word_index_recall(catalogue: ScaleCatalogue, probes: int = 100) -> WordIndex:
    """recall@10 of the vocabulary's HNSW index ("similar words") against exact search, over
    probes drawn from the 20k most frequent words; it does not grow with the catalogue."""
    space = catalogue.spaces[Kind.JOINT].word_space
    with connection.cursor() as cursor:
        cursor.execute("SELECT word, embedding::text FROM spaces_word WHERE space_id = %s ORDER BY id", [space.pk])
        rows = cursor.fetchall()
    words = [word for word, _ in rows]
    vectors = np.array([np.asarray(text.strip("[]").split(","), dtype=np.float32) for _, text in rows])
    found, durations = 0, []
    for row in catalogue.rng.choice(min(20_000, len(words)), size=probes, replace=False):
        start = time.perf_counter()
        hits = {word for word, _ in selectors.nearest_words(space, vectors[row], k=10, exclude=[words[row]])}
        durations.append((time.perf_counter() - start) * 1000)
        found += len(hits & {words[i] for i in exact_top(vectors, vectors[row], 10, row)})
    return WordIndex(len(words), found / (10 * probes), statistics.median(durations))
