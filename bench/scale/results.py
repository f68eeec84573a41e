"""What the scale benchmark measures at each size, kept as JSON between runs (--report-only)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SizeResult:
    size: int
    load_s: float = 0.0
    index: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)  # build s, MB, recall, ms
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
            index=saved["index"],
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
