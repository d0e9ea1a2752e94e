"""The node catalog: one module per node family. `load_catalog` builds the registry from them, each one guarded."""

from __future__ import annotations

import pkgutil
from collections.abc import Iterable
from pathlib import Path

from graph.registry import NodeRegistry


def load_catalog(custom_nodes: Path | Iterable[Path] | None = None) -> NodeRegistry:
    """A new registry: every module of this package, then the plugins of each `custom_nodes` folder.

    The one loader the server and the CLI share. Each module and each plugin builds its own registry, merged into
    this one; a failure is recorded in `load_errors` (and logged), never raised.
    """
    registry = NodeRegistry()
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if not module.name.startswith("_"):
            registry.load_module(f"{__name__}.{module.name}")
    folders = [custom_nodes] if isinstance(custom_nodes, Path) else list(custom_nodes or ())
    for folder in folders:
        registry.load_plugins(folder)
    return registry
