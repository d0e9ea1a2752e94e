"""The node catalog: one module per node family. `load_catalog` builds the registry from them, each one guarded."""

from __future__ import annotations

import pkgutil
from collections.abc import Iterable
from pathlib import Path

from graph.registry import ModuleAdapter, NodeRegistry
from graph.widgets import MAX_RESOLUTION

__all__ = ["MAX_RESOLUTION", "load_catalog"]  # MAX_RESOLUTION: ComfyUI packs import it from `nodes`


def load_catalog(custom_nodes: Path | Iterable[Path] | None = None, *, comfy_nodes: bool = True) -> NodeRegistry:
    """A new registry: every module of this package, then the plugins of each `custom_nodes` folder.

    The one loader the server and the CLI share. Each module and each plugin builds its own registry, merged into
    this one; a failure is recorded in `load_errors` (and logged), never raised. With `comfy_nodes`, plugins may
    also be ComfyUI custom-node packs (NODE_CLASS_MAPPINGS), adapted by the `comfy_compat` package.
    """
    registry = NodeRegistry()
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if not module.name.startswith("_"):
            registry.load_module(f"{__name__}.{module.name}")
    folders = [custom_nodes] if isinstance(custom_nodes, Path) else list(custom_nodes or ())
    adapters: tuple[ModuleAdapter, ...] = ()
    if comfy_nodes and folders:
        from comfy_compat.loader import adapt_module, install_shims

        install_shims()
        adapters = (adapt_module,)
    for folder in folders:
        registry.load_plugins(folder, adapters)
    return registry
