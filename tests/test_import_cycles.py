"""No import cycles inside the package, counting the imports inside functions, which hide a cycle
without removing it (the cycle is still there, only deferred until the function runs).

The graph has one node per module (a package is its ``__init__.py``) and is read from the source
with ``ast``, never by importing. An edge A -> B is drawn for every import in A that names B:

- ``import x.y.z``, ``from x.y import name``, ``from . import name`` and ``from .sibling import name``,
  relative imports resolved, at any depth: module level, functions, methods, ``try``/``except``;
- ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg/__init__``
  (the name is defined or re-exported there);
- importing ``a.b.c`` runs the ``__init__`` of ``a`` and ``a.b`` first, so it is also an edge to each of
  those packages, except a package the importer lies in: Python has started that ``__init__`` before
  any of its submodules runs, so it is a precondition, not a dependency. Hence
  ``pkg/__init__ -> pkg/sub -> pkg/__init__`` is a cycle only when ``sub`` imports a name that
  ``pkg/__init__`` defines or re-exports (``from . import Name``, ``from .. import Name``), the
  partly-initialised-module error; a ``sub`` that reaches its siblings by ``from . import sibling``
  or ``from .sibling import name`` makes none. ``export.py -> runtime/onnx_engine.py`` is an edge to
  ``runtime/__init__.py`` too.
- imports under ``if TYPE_CHECKING:`` are not edges: they never run, and annotations are strings
  (``from __future__ import annotations``).

Not seen: a module named by a computed string (``importlib.import_module(table[name])``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src"
PACKAGE = "crnn_ctc"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(path): path for path in sorted((SOURCE / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import under ``node`` at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _run_time_imports(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _run_time_imports(child)


def _enclosing_packages(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` (at ``path``) depends on, by the rules of the docstring."""
    is_package = path.name == "__init__.py"
    # Packages the importer lies in: started before it, so never an edge by implication.
    own_packages = {*_enclosing_packages(name), *([name] if is_package else [])}
    explicit: set[str] = set()
    for node in _run_time_imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            explicit.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            explicit.add(submodule if submodule in modules else source)
    found: set[str] = set()
    for target in explicit:
        if target not in modules:
            continue  # another distribution
        found.add(target)
        found.update(package for package in _enclosing_packages(target) if package not in own_packages)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan), each as one cycle
    through its modules, found by a walk inside the component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One cycle through the component's smallest module (a breadth-first path back to it)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_the_graph_sees_imports_inside_functions_and_implied_packages() -> None:
    graph = import_graph()
    # A function-level import (the CLI imports each command's modules on first use).
    assert any(targets for name, targets in graph.items() if name.startswith(f"{PACKAGE}.cli"))
    # Importing crnn_ctc.runtime.onnx_engine runs crnn_ctc.runtime's __init__ first.
    assert {f"{PACKAGE}.runtime", f"{PACKAGE}.runtime.onnx_engine"} <= graph[f"{PACKAGE}.export"]
    # A package's own submodules reaching their siblings make no edge back to its __init__.
    assert f"{PACKAGE}.runtime" not in graph[f"{PACKAGE}.runtime.onnx_engine"]


def test_find_cycles_reports_each_cycle_by_its_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]


def test_the_package_has_no_import_cycle() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (each module imports the next):\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_a_training_run_has_synth_sources_registered() -> None:
    """sources.py no longer imports synthetic.py, which registers ``synth:`` there: the loop, which opens a
    run's sources, must import it (a fresh interpreter, where nothing else imported it)."""
    check = """
from crnn_ctc.training import train
from crnn_ctc.training.sources import _SCHEMES, SourceSpec

assert SourceSpec("synth:preset=heavy").scheme == "synth:" and SourceSpec("data/train").scheme is None
from crnn_ctc.training.synthetic import synthetic_source

assert _SCHEMES == {"synth:": synthetic_source}, _SCHEMES
"""
    subprocess.run([sys.executable, "-c", check], check=True, cwd=ROOT)
