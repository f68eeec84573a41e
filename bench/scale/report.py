"""The scale benchmark's report: each target of the issue next to what was measured, then the
tables by size (indexes, focused search, Annoy, HTTP latency, throughput)."""

from __future__ import annotations

import time

from django.conf import settings

from bench.scale.catalogue import SEED_ITEMS, Kind
from bench.scale.recall import FOCUS_SWEEP
from bench.scale.results import SizeResult, WordIndex
from bench.system import machine
from config import serving
from spaces import vector_sql

TARGETS_AT = 100_000  # the size the latency targets are set for


def milliseconds(values: tuple[float, float, float] | None) -> str:
    return "–" if values is None else " / ".join(f"{value:.0f}" for value in values)


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**not met**")


def _http_target(result: SizeResult | None, label: str, modes: list[str], p50: float, p95: float | None) -> tuple:
    """One latency target over HTTP: (target, measured, met) for the slowest of `modes`."""
    bound = f"p50 ≤ {p50:.0f} ms" + (f", p95 ≤ {p95:.0f} ms" if p95 else "")
    if result is None or not result.http:
        return (f"{label}: {bound}", "not measured", None)
    measured = ", ".join(f"{mode} {milliseconds(result.http[mode][:2])}" for mode in modes)
    met = all(result.http[m][0] <= p50 and (p95 is None or result.http[m][1] <= p95) for m in modes)
    return (f"{label} {bound}", f"{measured} ms", met)


def targets(results: list[SizeResult], words: WordIndex) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of issue #22 that this run could measure."""
    at = {result.size: result for result in results}
    hundred, million = at.get(100_000), at.get(1_000_000)
    words_modes = ["words, semantic", "words, hybrid"]
    rows: list[tuple[str, str, bool | None]] = [
        _http_target(hundred, "100k: word search (semantic and hybrid)", words_modes, 15, None),
        _http_target(hundred, "100k: more like this (blend)", ["more like this (blend)"], 20, 50),
        _http_target(million, "1M: word search", words_modes, 30, 100),
        _http_target(million, "1M: more like this (blend)", ["more like this (blend)"], 30, 100),
        _http_target(million, "1M: focused search", ["focused"], 30, 100),
        _http_target(million, "1M: search by photo", ["by photo"], 100, None),
    ]
    if million:
        slowest = max(million.index.items(), key=lambda item: item[1][0])
        rows.append(
            (
                "1M: every space indexed, each index built in ≤ 20 min",
                f"{len(million.index)} spaces; slowest {slowest[0]} {slowest[1][0] / 60:.1f} min",
                len(million.index) == 3 and slowest[1][0] <= 1200,
            )
        )
    recalls = [(result.size, kind, values[2]) for result in results for kind, values in result.index.items()]
    if recalls:
        worst = min(recalls, key=lambda item: item[2])
        rows.append(
            (
                "recall@10 ≥ 0.95 for every index at every size",
                f"lowest {worst[2]:.3f} ({worst[1]}, {worst[0]:,} items)",
                worst[2] >= 0.95,
            )
        )
    for result in results:
        if result.focused:
            recall = result.focused[settings.FOCUS_CANDIDATES][0]
            rows.append(
                (
                    f"{result.size:,}: focused search recall@10 ≥ 0.95 against the exact focused scan",
                    f"{recall:.3f} ({settings.FOCUS_CANDIDATES} candidates)",
                    recall >= 0.95,
                )
            )
    rows.append(
        (
            f"recall@10 ≥ 0.95 for the vocabulary index ({words.words:,} words: similar words, tags)",
            f"{words.recall:.3f} ({words.latency_ms:.1f} ms in-process)",
            words.recall >= 0.95,
        )
    )
    return rows


def by_size_table(title: str, first: str, results: list[SizeResult], rows: dict[str, list[str]]) -> list[str]:
    """A markdown table with one column per catalogue size."""
    lines = ["", title, "", f"| {first} | " + " | ".join(f"{result.size:,}" for result in results) + " |"]
    lines.append("|---|" + "---|" * len(results))
    return lines + [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()]


def render(results: list[SizeResult], words: WordIndex, elapsed: float, quick: bool) -> str:
    """The section "Search at scale" of docs/benchmarks.md."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"`manage.py benchmark_scale{' --quick' if quick else ''}`, {when}"
        f", {elapsed / 60:.1f} min. Machine: {machine()}. gunicorn {serving.web_workers()} workers ×"
        f" {serving.web_threads()} threads; the client runs on the same machine.",
        "",
        f"Synthetic items drawn around the 500 development photos: the first {SEED_ITEMS:,} each mix two real",
        "photos' CNN features and logits (shares 0.6–1 and 0.4–0), with noise, their meaning and",
        "word-space vectors, classes and tags computed by the worker's own `ml.embed` (`bench/scale/synthetic.py`);",
        "every further item is derived in PostgreSQL from two of those, (a + b) × noise in every space",
        "(`bench/scale/derived.py`). Every space is filled and indexed at every size, stored as halfvec.",
        "Latencies in ms over HTTP, warm, one keep-alive client, the API's default k = 24; recall@10 against",
        "exact search (every vector streamed out of PostgreSQL, `bench/scale/truth.py`) over 100 items'",
        "own vectors; index latency in-process (one SQL query, no HTTP).",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    lines += [f"| {target} | {measured} | {verdict(ok)} |" for target, measured, ok in targets(results, words)]
    lines += [
        "",
        f"**Indexes** (HNSW over halfvec, (m, ef_construction) {settings.HNSW_BUILD}, ef_search"
        f" {settings.HNSW_EF_SEARCH}, iterative scans relaxed)",
        "",
        "| items | space | build s | size MB | recall@10 | query ms |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for kind, (build_s, megabytes, recall, latency) in result.index.items():
            lines.append(
                f"| {result.size:,} | {kind} | {build_s:.1f} | {megabytes:.0f} | {recall:.3f} | {latency:.1f} |"
            )
    efs = sorted({ef for result in results for sweep in result.ef_sweep.values() for ef in sweep} | {0})
    lines += [
        "",
        "**ef_search** (the setting's first): recall@10, in-process ms",
        "",
        "| items | space | " + " | ".join(f"ef {ef or settings.HNSW_EF_SEARCH}" for ef in efs) + " |",
        "|---|---|" + "---|" * len(efs),
    ]
    for result in results:
        for kind, sweep in result.ef_sweep.items():
            cells = {0: tuple(result.index[kind][2:]), **sweep}
            lines.append(
                f"| {result.size:,} | {kind} | "
                + " | ".join(f"{cells[ef][0]:.3f}, {cells[ef][1]:.1f}" if ef in cells else "–" for ef in efs)
                + " |"
            )
    builds = [
        (result.size, kind, name, values)
        for result in results
        for kind, by in result.builds.items()
        for name, values in by.items()
    ]
    if builds:
        lines += [
            "",
            "**Other graphs** (m, ef_construction), at the setting's ef_search",
            "",
            "| items | space | m, ef_construction | build s | size MB | recall@10 | query ms |",
            "|---|---|---|---|---|---|---|",
        ]
        row = "| {:,} | {} | {} | {:.1f} | {:.0f} | {:.3f} | {:.1f} |"
        for result in results:
            for kind, by in result.builds.items():
                m, efc = vector_sql.graph_parameters(kind)
                lines.append(row.format(result.size, kind, f"{m}, {efc} (setting)", *result.index[kind]))
                for name, values in by.items():
                    lines.append(row.format(result.size, kind, name.replace(",", ", "), *values))
    lines += [
        "",
        "**Focused search**: the top `FOCUS_CANDIDATES` of the plain HNSW index for q·w² (w the class's",
        f"classifier weights), re-ranked exactly; recall@10 and in-process ms against the exact scan"
        f" (default {settings.FOCUS_CANDIDATES} candidates)",
        "",
        "| items | exact scan ms | " + " | ".join(f"{c} candidates" for c in FOCUS_SWEEP) + " |",
        "|---|---|" + "---|" * len(FOCUS_SWEEP),
    ]
    for result in results:
        if result.focused:
            sweep = " | ".join(f"{result.focused[c][0]:.3f}, {result.focused[c][1]:.0f} ms" for c in FOCUS_SWEEP)
            exact = f"{result.focused[0][1]:.0f}" if 0 in result.focused else "–"
            lines.append(f"| {result.size:,} | {exact} | {sweep} |")
    lines += [
        "",
        "**The tutorial's index: Annoy** over the same image vectors, in-process, against pgvector's HNSW",
        "",
        "| items | index | build s | size MB | recall@10 | query ms |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        if Kind.IMAGE not in result.index:
            continue
        build_s, megabytes, recall, latency = result.index[Kind.IMAGE]
        lines.append(
            f"| {result.size:,} | pgvector HNSW (SQL) | {build_s:.1f} | {megabytes:.0f} | {recall:.3f}"
            f" | {latency:.1f} |"
        )
        for name, (build_s, megabytes, recall, latency) in result.annoy.items():
            lines.append(
                f"| {result.size:,} | {name} | {build_s:.1f} | {megabytes:.0f} | {recall:.3f} | {latency:.2f} |"
            )
    modes = list(dict.fromkeys(mode for result in results for mode in result.http))
    lines += by_size_table(
        "**Over HTTP** p50 / p95 / p99 ms",
        "mode",
        results,
        {mode: [milliseconds(result.http.get(mode)) for result in results] for mode in modes},
    )
    lines += by_size_table(
        "**Throughput** (requests/s; half hybrid word searches, half more like this)",
        "clients",
        results,
        {str(c): [f"{result.throughput.get(c, 0):.0f}" for result in results] for c in (1, 4, 16)},
    )
    lines += [
        "",
        "Load (seeds by COPY, the rest derived in SQL) took "
        + ", ".join(f"{r.load_s:.0f} s ({r.size:,})" for r in results),
    ]
    lines += [
        "",
        "Vectors' table (halfvec, with TOAST, without indexes): "
        + ", ".join(f"{r.vectors_mb:,.0f} MB ({r.size:,})" for r in results),
    ]
    return "\n".join(lines)
