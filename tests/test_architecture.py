"""The layering the README promises, checked on the source: ml <- catalog <- search, no cycles.

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import BASE_DIR

PACKAGES = ("ml", "catalog", "search", "config")
# What each layer must never import (the packages above it, and for ml any web framework).
FORBIDDEN = {
    "ml": ("catalog", "search", "config", "django", "rest_framework", "celery"),
    "catalog": ("search", "config", "celery"),
}


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (BASE_DIR / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(BASE_DIR).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module this file imports: project modules resolved to the deepest one that exists."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def test_layers_import_only_downwards() -> None:
    graph = import_graph()
    violations = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        for forbidden in FORBIDDEN.get(module.split(".")[0], ())
        if target == forbidden or target.startswith(forbidden + ".")
    ]
    assert not violations, "\n".join(sorted(violations))


def test_no_import_cycles() -> None:
    graph = import_graph()
    edges = {module: {t for t in targets if t in graph and t != module} for module, targets in graph.items()}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str], on_path: set[str], done: set[str]) -> None:
        for target in sorted(edges[module]):
            if target in on_path:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in done:
                on_path.add(target)
                visit(target, [*path, target], on_path, done)
                on_path.discard(target)
        done.add(module)

    done: set[str] = set()
    for start in sorted(edges):
        if start not in done:
            visit(start, [start], {start}, done)
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_checks_see_real_imports() -> None:
    """Guards the guard: the graph must contain the dependencies we know exist."""
    graph = import_graph()
    assert "catalog.services" in graph["search.tasks"]
    assert "ml.images" in graph["catalog.services"]
    assert "search.indexing" in graph["search.tasks"]
