"""The node catalog: one module per node family. `load_catalog` imports them all, each one guarded."""

from __future__ import annotations

import pkgutil
from pathlib import Path

from graph.registry import REGISTRY, NodeRegistry


def load_catalog(custom_nodes: Path | None = None, registry: NodeRegistry = REGISTRY) -> NodeRegistry:
    """Import every module of this package, then plugins from `custom_nodes`; failures are recorded, not raised."""
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if not module.name.startswith("_"):
            registry.load_module(f"{__name__}.{module.name}")
    if custom_nodes is not None and custom_nodes.is_dir():
        for entry in sorted(custom_nodes.iterdir()):
            is_module = entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").exists())
            if is_module and not entry.name.startswith(("_", ".")):
                registry.load_file(entry)
    return registry
