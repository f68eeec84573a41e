"""The layering the README promises, checked on the source.

Floors, lowest first; a module may import its own app and the floors below it, never a floor
above it nor a neighbour on its own floor:

    ml                  models and maths, no Django
    infra               helpers any app may use on a request path (the cache with a fallback)
    catalog             items, categories, states, browsing
    spaces              embedding spaces, their vectors and indexes
    ingest | search     upload -> vectors  |  query -> SQL (neither knows the other)
    learning            training and evaluation
    config              settings, URLs, cross-cutting middleware
    bench               benchmarks and development measurements (nothing imports them)

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR

FLOORS: list[tuple[str, ...]] = [
    ("ml",),
    ("infra",),
    ("catalog",),
    ("spaces",),
    ("ingest", "search"),
    ("learning",),
    ("config",),
    ("bench",),
]
PACKAGES = tuple(app for floor in FLOORS for app in floor)
FLOOR_OF = {app: number for number, floor in enumerate(FLOORS) for app in floor}
# Besides the project's own packages: what ml, the floor without Django, must never import.
FRAMEWORKS = ("django", "rest_framework", "celery", "pgvector", "psycopg")
# Raw SQL (a cursor) is written only in the modules named for it.
SQL_MODULES = ("services", "selectors", "ranking", "vector_sql", "compaction", "health", "local_servers")


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


def imports_of(source: str, modules: dict[str, Path]) -> set[str]:
    """Every module this source imports: project modules resolved to the deepest one that exists."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path.read_text(), modules) for name, path in modules.items()}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    violations = []
    for module, targets in graph.items():
        app = module.split(".")[0]
        for target in targets:
            target_app = target.split(".")[0]
            if app == "ml" and target_app in FRAMEWORKS:
                violations.append(f"{module} imports {target} (ml knows no framework)")
            elif target_app in FLOOR_OF and target_app != app and FLOOR_OF[target_app] >= FLOOR_OF[app]:
                violations.append(f"{module} imports {target}")
    return sorted(violations)


def test_layers_import_only_downwards() -> None:
    violations = layer_violations(import_graph())
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("catalog.services", "from spaces import selectors"),  # upwards
        ("ingest.pipeline", "def f():\n    from search import ranking"),  # a neighbour, lazily
        ("spaces.selectors", "import learning.evaluation"),  # upwards, plain import
        ("ml.embed", "from django.conf import settings"),  # ml knows no framework
        ("search.modes", "from bench.dev_photos import DevSet"),  # nothing imports bench
    ],
)
def test_the_layer_check_catches_a_wrong_import(module: str, source: str) -> None:
    """Guards the guard: a planted import against the order must be reported."""
    graph = import_graph()
    graph[module] = graph[module] | imports_of(source, project_modules())
    assert any(line.startswith(f"{module} imports") for line in layer_violations(graph))


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
    assert "catalog.services" in graph["ingest.tasks"]
    assert "ml.images" in graph["catalog.services"]
    assert "ingest.pipeline" in graph["ingest.tasks"]
    assert "spaces.embedding" in graph["search.query_vectors"]


def test_raw_sql_lives_in_the_modules_named_for_it() -> None:
    """A cursor outside services, selectors, ranking and vector_sql (and the health check and
    the local-server tooling) means SQL has leaked into a module a reader would not look in."""
    runtime = [name for name in project_modules() if not name.startswith("bench")]
    leaks = [
        name
        for name in runtime
        if name.split(".")[-1] not in SQL_MODULES and ".cursor(" in project_modules()[name].read_text()
    ]
    assert not leaks, f"SQL outside its modules: {leaks}"


def test_no_module_over_300_lines() -> None:
    long = {
        name: lines for name, path in project_modules().items() if (lines := len(path.read_text().splitlines())) > 300
    }
    assert not long, f"Split these modules: {long}"
