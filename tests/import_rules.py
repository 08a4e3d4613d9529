"""The import graph of the `any2capins` package, read from the source (no module is imported).

`import_graph()` maps every module of the package to the package modules it imports, counting
every `import` and `from ... import` anywhere in the file: at the top, inside functions, under
`if TYPE_CHECKING:` (a cycle there is still two modules that need each other). Relative imports
are resolved against the importing module. `from pkg import name` is an import of `pkg.name`
when that is a module of the package, else of `pkg` (a name defined in, or re-exported by,
`pkg/__init__.py`). Importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`, but only
the named module is counted: an `__init__` that imports its submodules would otherwise put
every module of a package on a cycle with its siblings.

`cycles()` lists the strongly connected components with more than one module (and modules
importing themselves), each sorted, largest first: every module of a component reaches every
other through imports. `cycle_path(graph, component)` gives one concrete loop through a
component, for messages.

Run it: `python tests/import_rules.py` prints the cycles and exits 1 when there are any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "any2capins"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file below `root` (packages as their
    `__init__.py`, named after the folder)."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """Absolute name of `from <level dots><target> import ...` inside `module`."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def imports_of(module: str, path: Path, modules: Iterable[str]) -> set[str]:
    """Package modules that `module` (source at `path`) imports, anywhere in the file."""
    known = set(modules)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()

    def add(name: str) -> None:
        # the longest prefix that is a module of the package (`a.b.Class` -> `a.b`)
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            candidate = ".".join(parts[:k])
            if candidate in known:
                found.add(candidate)
                return

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                add(full if full in known else base)
    return found


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (see module docstring for what counts)."""
    files = module_files(root, package)
    return {m: imports_of(m, p, files) for m, p in files.items()}


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative: deep packages must not recurse)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                out.append(sorted(comp))
    return out


def cycles(graph: dict[str, set[str]] | None = None) -> list[list[str]]:
    """Groups of modules that import each other (directly or through others), each sorted,
    largest group first; a module that imports itself is a group of one."""
    graph = import_graph() if graph is None else graph
    found = [c for c in _components(graph) if len(c) > 1 or c[0] in graph.get(c[0], ())]
    return sorted(found, key=lambda c: (-len(c), c))


def cycle_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest loop through `component`'s first module, as the modules from it back to
    it (breadth-first search inside the component)."""
    members, start = set(component), component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for m in sorted(graph.get(node, ())):
                if m == start:  # closed the loop: walk the parents back to the start
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if m in members and m not in parents:
                    parents[m] = node
                    nxt.append(m)
        frontier = nxt
    return [start]


def main() -> int:
    graph = import_graph()
    found = cycles(graph)
    for comp in found:
        print(f"{len(comp)} modules: " + " -> ".join(cycle_path(graph, comp)))
        if len(comp) > 2:
            print("    all: " + ", ".join(comp))
    print(f"{len(found)} cycle(s) among {len(graph)} modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
