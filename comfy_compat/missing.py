"""The error for a ComfyUI symbol the compatibility layer does not provide: it names the symbol and the pack."""

from __future__ import annotations

import sys


class NotProvided(AttributeError):
    """A ComfyUI module attribute Latent Loom does not provide (listed in docs/custom-nodes.md)."""


def calling_pack() -> str:
    """The custom_nodes pack whose code is asking (the nearest such frame), or "a custom node"."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith("custom_nodes."):
            return f"pack {module.split('.')[1]!r}"
        frame = frame.f_back  # type: ignore[assignment]  # None ends the loop
    return "a custom node"


def not_provided(module: str, name: str) -> NotProvided:
    """The error to raise from a shim module's `__getattr__`."""
    return NotProvided(
        f"{module}.{name} (used by {calling_pack()}) is not provided by Latent Loom's ComfyUI compatibility layer; "
        "see docs/custom-nodes.md for what is"
    )
