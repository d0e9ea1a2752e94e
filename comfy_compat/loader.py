"""Finds ComfyUI nodes in a loaded custom_nodes module: NODE_CLASS_MAPPINGS (+ NODE_DISPLAY_NAME_MAPPINGS).

The registry's plugin loader imports each pack in isolation (a package with __init__.py or a single .py file) and
hands the module to `adapt_module`; a pack that fails to import is recorded in the registry's `load_errors`.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from pathlib import Path

from comfy_compat.v1 import adapt_class
from graph.registry import check_spec
from graph.spec import NodeDefinitionError, NodeSpec

#: The ComfyUI modules packs import (folder_paths, comfy.*), importable once `install_shims` ran.
SHIMS = Path(__file__).resolve().parent / "shims"


def install_shims() -> None:
    """Make `import folder_paths` and `import comfy.utils` resolve to the compatibility modules (idempotent).

    Appended to the search path, so a pack's own module of the same name wins, as in ComfyUI.
    """
    if str(SHIMS) not in sys.path:
        sys.path.append(str(SHIMS))


def adapt_module(module: types.ModuleType) -> tuple[list[NodeSpec], list[str]]:
    """The specs of the V1 classes `module` exports; a class that cannot be adapted is skipped with a message."""
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if mappings is None:
        return [], []
    if not isinstance(mappings, Mapping):
        return [], [f"NODE_CLASS_MAPPINGS is a {type(mappings).__name__}, not a dict"]
    names = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {}
    specs: list[NodeSpec] = []
    problems: list[str] = []
    for node_type, cls in mappings.items():
        try:
            display = names.get(node_type) if isinstance(names, Mapping) else None
            spec = adapt_class(str(node_type), cls, display_name=display, module=module.__name__)
            check_spec(spec)
        except NodeDefinitionError as error:
            problems.append(str(error))
            continue
        specs.append(spec)
    return specs, problems
