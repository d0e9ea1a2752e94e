"""Nominal socket types: the names that typed links carry (ComfyUI's, so workflows carry over)."""

from __future__ import annotations

from dataclasses import dataclass

#: Socket types known to the core catalog. Plugins add theirs with `register_socket_type`.
_KNOWN: set[str] = {
    "MODEL",
    "CLIP",
    "VAE",
    "CONDITIONING",
    "LATENT",
    "IMAGE",
    "MASK",
    "CONTROL_NET",
    "CLIP_VISION",
    "CLIP_VISION_OUTPUT",
    "STYLE_MODEL",
    "GLIGEN",
    "UPSCALE_MODEL",
    "SAMPLER",
    "SIGMAS",
    "NOISE",
    "GUIDER",
}

#: Widget value types; a link may feed a widget input when its output type is the same name.
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")


@dataclass(frozen=True)
class Socket:
    """Marks a parameter or an output field as a typed socket: `Annotated[DiffusionModel, Socket("MODEL")]`."""

    type_name: str


def register_socket_type(name: str) -> None:
    """Make a new socket type known (plugins); names are upper-case identifiers."""
    if not name.replace("_", "").isalnum() or name.upper() != name:
        raise ValueError(f"socket type names are upper-case identifiers, got {name!r}")
    _KNOWN.add(name)


def is_known_socket_type(name: str) -> bool:
    """Whether `name` is a registered socket type or a widget value type ("*" matches anything)."""
    return name in _KNOWN or name in WIDGET_TYPES or name == "*"


def types_compatible(output_type: str, input_type: str) -> bool:
    """Whether a link from an output of `output_type` may feed an input of `input_type`.

    "*" on either side is a wildcard (reroutes and primitive nodes); everything else is nominal. A
    comma-separated name ("INT,FLOAT", ComfyUI's multi-type sockets) matches when the two sets share a type.
    """
    if output_type == input_type or "*" in (output_type, input_type):
        return True
    if "," in output_type or "," in input_type:
        return bool(set(output_type.split(",")) & set(input_type.split(",")))
    return False
