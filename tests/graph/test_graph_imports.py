"""The core's import graph points one way: no module of graph/ or api/ imports one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(packages: tuple[str, ...] = ("graph", "api", "nodes")) -> nx.DiGraph:
    """Every import (top-level, in functions, under TYPE_CHECKING) between modules of `packages`."""
    modules = {_module_name(path): path for package in packages for path in (ROOT / package).rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for statement in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(statement, ast.Import):
                targets = [alias.name for alias in statement.names]
            elif isinstance(statement, ast.ImportFrom) and statement.module and statement.level == 0:
                targets = [statement.module] + [f"{statement.module}.{alias.name}" for alias in statement.names]
            for target in targets:
                if target in modules and target != name and not name.startswith(target + "."):
                    graph.add_edge(name, target)
    return graph


def test_there_is_no_import_cycle_in_the_core() -> None:
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join([*cycle, cycle[0]]) for cycle in cycles)


def test_the_engine_imports_neither_the_server_nor_the_catalog() -> None:
    graph = import_graph()
    for module in graph:
        if module.startswith("graph"):
            assert not [m for m in graph.successors(module) if m.startswith(("api", "nodes"))], module
