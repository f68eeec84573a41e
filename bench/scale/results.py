"""What the scale benchmark measures at each size, kept as JSON between runs (--report-only)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SizeResult:
    size: int
    load_s: float = 0.0
    vectors_mb: float = 0.0  # the vectors' table (with TOAST, without indexes)
    index: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)  # build s, MB, recall, ms
    ef_sweep: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)  # space -> ef -> recall, ms
    builds: dict[str, dict[str, tuple[float, float, float, float]]] = field(default_factory=dict)  # "m,efc" ->
    focused: dict[int, tuple[float, float]] = field(default_factory=dict)  # candidates -> recall, ms
    annoy: dict[str, tuple[float, float, float, float]] = field(
        default_factory=dict
    )  # setting -> build s, MB, recall, ms
    http: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # mode -> p50, p95, p99 ms
    throughput: dict[int, float] = field(default_factory=dict)  # clients -> requests/s

    @classmethod
    def from_json(cls, saved: dict) -> SizeResult:
        """Back from JSON, whose keys are strings."""
        return cls(
            size=saved["size"],
            load_s=saved["load_s"],
            vectors_mb=saved.get("vectors_mb", 0.0),
            index=saved["index"],
            ef_sweep={
                kind: {int(ef): tuple(v) for ef, v in sweep.items()} for kind, sweep in saved["ef_sweep"].items()
            },
            builds=saved["builds"],
            focused={int(candidates): tuple(values) for candidates, values in saved["focused"].items()},
            annoy=saved["annoy"],
            http=saved["http"],
            throughput={int(clients): rate for clients, rate in saved["throughput"].items()},
        )


@dataclass
class WordIndex:
    """The vocabulary's HNSW index ("similar words"), measured once: it does not grow with the catalogue."""

    words: int
    recall: float
    latency_ms: float
