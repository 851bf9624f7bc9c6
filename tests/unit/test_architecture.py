"""The shape of function/collector (issue 11), checked on its source with `ast`: no import cycle
between its modules, and no module but layout.py spelling an OSS key (in ops/ neither)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "function" / "collector"
OPS = ROOT / "ops"
# Fragments of the OSS key layout (README "OSS layout"): only layout.py may spell them.
KEY_FRAGMENTS = ("pending/", "dead-letter/", "rejected/", "manifest.json")
KEY_KNOWER = "layout"


def modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}


def imports_of(tree: ast.Module) -> set[str]:
    """The collector modules a module imports, at any depth (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("collector"):
            if node.module == "collector":
                found.update(alias.name for alias in node.names)
            else:
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("collector."):
                    found.add(alias.name.split(".")[1])
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, each as the path that closes it (depth-first search)."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


def test_cycles_finds_a_cycle_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_function_collector_has_no_import_cycle() -> None:
    graph = {name: imports_of(tree) - {name} for name, tree in modules().items()}
    assert graph, "no modules found"
    assert cycles(graph) == []


def key_literals(tree: ast.Module) -> list[str]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and any(fragment in node.value for fragment in KEY_FRAGMENTS)
    ]


def test_only_layout_spells_an_oss_key() -> None:
    trees = modules()
    offenders = {
        name: literals
        for name, tree in trees.items()
        if name != KEY_KNOWER and (literals := key_literals(tree))
    }
    assert offenders == {}
    assert key_literals(trees[KEY_KNOWER]), "layout.py should hold the key layout"


def test_ops_spells_no_oss_key_either() -> None:
    """The operator CLI reads and writes the same objects through layout.py and the records."""
    offenders = {
        path.name: literals
        for path in sorted(OPS.glob("*.py"))
        if (literals := key_literals(ast.parse(path.read_text())))
    }
    assert offenders == {}
