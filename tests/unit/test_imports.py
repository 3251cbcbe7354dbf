"""No import circles in the package, and the artifact layer imports cleanly on its own.

The graph is built from module-level imports (what runs when a module is imported); imports inside
functions are deliberate lazy imports and are not edges. A circle is a strongly connected component of
more than one module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "slipway"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, name: str, modules: dict[str, Path], lazy: bool = False) -> set[str]:
    """Modules of the package that ``name`` imports at module level (with ``lazy``, inside functions too)."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        if lazy:
            nodes = [n for n in ast.walk(ast.Module(body=nodes, type_ignores=[])) if isinstance(n, ast.stmt)]
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.If, ast.Try)) and not lazy:
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)

    visit(tree.body)
    return {m for m in found if m in modules and m != name}


@lru_cache(maxsize=2)
def _graph(lazy: bool = False) -> dict[str, set[str]]:
    """Each module -> the package's modules it imports (parsed once per session for both kinds)."""
    modules = _modules()
    return {m: _imports(p, m, modules, lazy) for m, p in modules.items()}


def _cycles(lazy: bool = False) -> list[list[str]]:
    graph = _graph(lazy)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def test_no_import_circles() -> None:
    assert _cycles() == []


def test_the_artifact_layer_has_no_circle_even_through_lazy_imports() -> None:
    """frameworks/ had seven modules importing each other inside functions; the artifact layer and the
    training code must not grow such a circle again."""
    layers = ("slipway.artifacts", "slipway.training", "slipway.serving.payloads", "slipway.serving.predictor")
    assert [c for c in _cycles(lazy=True) if any(m.startswith(layers) for m in c)] == []


ARTIFACT_MODULES = sorted(m for m in _modules() if m.startswith("slipway.artifacts"))


@pytest.mark.parametrize("module", ARTIFACT_MODULES)
def test_each_artifact_module_imports_alone(module: str) -> None:
    """In a fresh interpreter, so an import that only works after another module was imported shows up."""
    r = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


LOWER_LAYERS = ("slipway.services", "slipway.db", "slipway.storage", "slipway.compute")


def test_lower_layers_do_not_import_the_aws_protocols() -> None:
    """Layers flow one way (compat and routes -> services -> db/storage/compute): no module below compat imports
    slipway.compat, not even inside a function (the bucket services raise Slipway errors; compat translates them)."""
    crossing = sorted(f"{m} -> {dep}" for m, deps in _graph(True).items() if m.startswith(LOWER_LAYERS)
                      for dep in deps if dep.startswith("slipway.compat"))
    assert crossing == []
