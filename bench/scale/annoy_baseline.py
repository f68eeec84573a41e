"""The tutorial's index, Annoy, over the same image vectors in the same run, to compare with
pgvector's HNSW at equal recall."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
from django.conf import settings

from bench.scale.recall import exact_top
from bench.scale.truth import all_vectors
from spaces.models import EmbeddingSpace

# Annoy (trees, search_k): the tutorial's 10 trees with Annoy's default search_k (trees x k),
# then more trees, then a wide search that buys recall with time, to compare at equal recall.
ANNOY_CONFIGS = ((10, -1), (50, -1), (50, 20_000))


def setting_name(trees: int, search_k: int) -> str:
    return f"Annoy {trees} trees, search_k {'default' if search_k < 0 else f'{search_k:,}'}"


class AnnoyBaseline:
    """Annoy indexes, one build per tree count and catalogue size (the latest kept)."""

    def __init__(self) -> None:
        self.builds: dict[tuple[int, int], tuple[Any, float, float]] = {}  # (rows, trees) -> index, s, MB

    def measure_all(self, space: EmbeddingSpace, probe_ids: list[int]) -> dict[str, tuple[float, float, float, float]]:
        """Each setting of ANNOY_CONFIGS over the space's vectors: name -> build s, MB, recall@10,
        median query ms."""
        ids, rows = all_vectors(space)
        row_of = {image_id: row for row, image_id in enumerate(ids.tolist())}
        probes = np.array([row_of[image_id] for image_id in probe_ids])
        return {
            setting_name(trees, search_k): self.measure(rows, probes, trees, search_k)
            for trees, search_k in ANNOY_CONFIGS
        }

    def measure(
        self, rows: np.ndarray, probes: np.ndarray, trees: int, search_k: int
    ) -> tuple[float, float, float, float]:
        """The tutorial's index over the same vectors: build s, MB, recall@10, median query ms."""
        from annoy import AnnoyIndex

        key = (len(rows), trees)
        if key not in self.builds:
            index = AnnoyIndex(rows.shape[1], "angular")
            start = time.monotonic()
            for row, vector in enumerate(rows):
                index.add_item(row, vector)
            index.build(trees, n_jobs=-1)
            build_s = time.monotonic() - start
            path = settings.BASE_DIR / ".local" / "scale.ann"
            index.save(str(path))  # for its size; Annoy then serves from the file, memory-mapped
            self.builds = {key: (index, build_s, path.stat().st_size / 2**20)}
            path.unlink()  # the mapping stays readable
        index, build_s, megabytes = self.builds[key]
        found, durations = 0, []
        for probe in probes:
            start = time.perf_counter()
            nearest = index.get_nns_by_vector(rows[probe], 11, search_k=search_k)
            durations.append((time.perf_counter() - start) * 1000)
            hits = [row for row in nearest if row != probe][:10]
            found += len(set(hits) & exact_top(rows, rows[probe], 10, probe))
        return build_s, megabytes, found / (10 * len(probes)), statistics.median(durations)
