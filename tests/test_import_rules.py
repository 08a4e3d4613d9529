"""The layout's rules, checked on the source: stage packages never import each other, and no
two modules of the package import each other (directly or through others). Imports inside
functions and under TYPE_CHECKING count (tests/import_rules.py says exactly what counts)."""

from __future__ import annotations

from import_rules import PACKAGE, cycle_path, cycles, import_graph

STAGE_PACKAGES = ("ingest", "conditions", "captions", "review", "shortprompts", "export",
                  "data", "curation")


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in STAGE_PACKAGES else None


def test_no_stage_package_imports_another():
    graph = import_graph()
    wrong = sorted(f"{m} imports {t}" for m, targets in graph.items() for t in targets
                   if _package(m) and _package(t) and _package(m) != _package(t))
    assert wrong == [], "shared code belongs below the stages (models/, io/, llm/, runtime/)"


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert found == [], [" -> ".join(cycle_path(graph, c)) for c in found]


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """The rule checker itself: a function-level import and a relative import are edges."""
    pkg = tmp_path / PACKAGE
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("def f():\n    from any2capins.b import y\n")
    (pkg / "b.py").write_text("from .a import x\n")
    graph = import_graph(pkg, PACKAGE)
    assert graph[f"{PACKAGE}.a.x"] == {f"{PACKAGE}.b"}
    assert graph[f"{PACKAGE}.b"] == {f"{PACKAGE}.a.x"}
    assert cycles(graph) == [[f"{PACKAGE}.a.x", f"{PACKAGE}.b"]]
