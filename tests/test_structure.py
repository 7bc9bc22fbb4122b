"""The package's structure: minidl's modules import each other in one direction (no cycle).

The test reads every module's source (``ast``), collects the minidl modules it imports (at module
level and inside functions alike: a lazy import hides a cycle, it does not remove it), and looks
for a cycle in that graph. A package's ``__init__`` may import its own submodules (that is what
it is for); every other edge counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import minidl

ROOT = Path(minidl.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The minidl modules that module ``name`` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if sub in known else base)
    found = {m for m in found if m in known and m != name}
    if is_package:  # a package's __init__ importing its own submodules is not a dependency of theirs on it
        found = {m for m in found if not m.startswith(name + ".")}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if state.get(nxt) is None and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read_correctly():
    graph = _graph()
    assert "minidl.tensor" in graph["minidl.autograd"]
    assert "minidl.ops.compare" in graph["minidl.ops.elementwise"]  # from minidl.ops import compare
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_core_imports_no_op():
    graph = _graph()
    for core in ("minidl.tensor", "minidl.autograd"):
        upward = {m for m in graph[core] if m.startswith(("minidl.ops", "minidl.nn", "minidl.optim"))}
        assert not upward, f"{core} imports {sorted(upward)}: the core must not depend on the ops"


def test_backends_import_no_op_nn_or_optim():
    """The backend layer supplies arrays and kernels; what drives the ops (the GPU self-test, its graph
    checks) lives in ``minidl.testing``."""
    graph = _graph()
    for name, imports in graph.items():
        if name == "minidl.backends" or name.startswith("minidl.backends."):
            upward = {m for m in imports if m.startswith(("minidl.ops", "minidl.nn", "minidl.optim"))}
            assert not upward, f"{name} imports {sorted(upward)}: minidl/backends/ must not depend on ops, nn or optim"


def test_no_import_cycle_among_minidl_modules():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
