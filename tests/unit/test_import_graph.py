"""The import graph of ``locust_ml``: no cycles, and the pure layer imports nothing above it.

Read from the source (``ast``), every import counted - module level and
inside functions - except those under ``if TYPE_CHECKING:`` (annotations
only, never run). A cycle means two modules that can't be understood, or
loaded, one without the other (issue 15: ``MLUser.run`` imported the
listeners, which imported the users).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "locust_ml"

#: The pure layer (ARCHITECTURE.md): no Locust, no sockets, no file writes.
PURE = (
    "locust_ml.analysis",
    "locust_ml.arrivals",
    "locust_ml.config",
    "locust_ml.errors",
    "locust_ml.options",
    "locust_ml.payloads",
    "locust_ml.schedules",
    "locust_ml.preflight",
    "locust_ml.shapes",
    "locust_ml.sweep.configs",
    "locust_ml.sweep.console",
    "locust_ml.sweep.ranking",
    "locust_ml.sweep.result",
    "locust_ml.sweep.strategy",
    "locust_ml.traces",
    "locust_ml.version",
)
#: What the pure layer must never import: the glue, the adapters, the server, the CLI.
ABOVE_PURE = (
    "locust_ml.plugin",
    "locust_ml.report",
    "locust_ml.telemetry",
    "locust_ml.server",
    "locust_ml.cli",
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                for other in child.orelse:  # type: ignore[attr-defined]
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("locust_ml"))
            elif isinstance(child, ast.ImportFrom) and child.module:
                base = child.module
                if base.startswith("locust_ml"):
                    for alias in child.names:
                        full = f"{base}.{alias.name}"
                        found.add(full if full in modules else base)
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(name)
    return {m for m in found if m in modules}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_the_package_has_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_a_cycle_is_found_when_there_is_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_pure_layer_imports_nothing_above_it() -> None:
    bad = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if module.startswith(PURE)
        for target in sorted(targets)
        if target.startswith(ABOVE_PURE)
    ]
    assert bad == []
