"""No import cycle among emoret's modules.

Imports inside functions count: they hide a cycle from import time, not from a reader (and a
module that imports its importer back at call time is two ideas in two files). Imports under
``if TYPE_CHECKING:`` do not: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("emoret", "emoret_cli")


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``packages`` under ``root``."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _runs(node: ast.AST) -> list[ast.AST]:
    """The statements under ``node`` that can run (an ``if TYPE_CHECKING:`` body cannot)."""
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        return list(node.orelse)
    return list(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement may load: ``from a import b`` may load ``a.b``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{alias.name}" for alias in node.names]


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` is, or lies in (``a.b.func`` -> ``a.b``); None outside ``modules``."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports, at any depth of its code."""
    modules = module_files(root, packages)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        pending: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
        while pending:
            node = pending.pop()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _imported(node, module, path.name == "__init__.py"):
                    target = _known(name, modules)
                    if target is not None and target != module:
                        targets.add(target)
            pending.extend(_runs(node))
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a loop (Tarjan's SCCs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

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
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_no_module_of_emoret_imports_itself_round_a_loop():
    graph = import_graph(ROOT)
    assert len(graph) > 50 and "emoret.video.decode" in graph["emoret.video.extract"]
    assert cycles(graph) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    _write(tmp_path, {
        "emoret/__init__.py": "",
        "emoret/video/__init__.py": "",
        "emoret/video/decode.py": "def extract():\n    from emoret.video.moments import windows\n",
        "emoret/video/moments.py": "from emoret.video import decode\n",
        "emoret/video/frames.py": "from emoret.video.decode import extract\n",
        "emoret/demo/__init__.py": "",
        "emoret/demo/synthetic.py": "from . import heldout\n",
        "emoret/demo/heldout.py": "from .synthetic import make_video\n",
    })
    assert cycles(import_graph(tmp_path, ("emoret",))) == [
        ["emoret.demo.heldout", "emoret.demo.synthetic"],
        ["emoret.video.decode", "emoret.video.moments"],
    ]


def test_imports_for_type_checkers_only_are_no_cycle(tmp_path):
    _write(tmp_path, {
        "emoret/__init__.py": "",
        "emoret/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from emoret.b import B\n",
        "emoret/b.py": "import emoret.a\n",
    })
    graph = import_graph(tmp_path, ("emoret",))
    assert graph == {"emoret": set(), "emoret.a": set(), "emoret.b": {"emoret.a"}}
    assert cycles(graph) == []
