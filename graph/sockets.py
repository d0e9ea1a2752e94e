"""The socket-type vocabulary: every type a link may carry, with its Python class and its editor colour.

ComfyUI's spelling is canonical ("MODEL", "CONDITIONING", ...), so workflows carry over. This module is the
one place a type is defined: node definitions (`Socket("LATENT")`), the registry's definition checks, the
validator's link checks, the executor's output checks and the editor's colours (`web/src/socketTypes.json`,
written by `python -m graph.sockets`) all read it.

A custom-node package declares its own types before its nodes use them:

    from graph.sockets import register_socket_type
    register_socket_type("POINT_CLOUD", python_type="my_pack.clouds:PointCloud")

Registering a name again with the same definition is a no-op (a module reloaded); a different definition is an
error, so two packs cannot silently give one name two meanings.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

#: Widget value types: a link may feed a widget input when its output type has the same name.
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
#: The wildcard type of reroutes and primitive nodes: it matches anything.
ANY_TYPE = "*"


@dataclass(frozen=True)
class Socket:
    """Marks a parameter or an output field as a typed socket: `Annotated[DiffusionModel, Socket("MODEL")]`."""

    type_name: str


@dataclass(frozen=True)
class SocketType:
    """One entry of the vocabulary.

    `python_type` is "module:qualname" of the class a value of this type is an instance of (a string, so that
    the engine imports neither torch nor the model stack); "" means no runtime check (opaque plugin objects).
    """

    name: str
    python_type: str
    color: str
    description: str = ""

    def accepts(self, value: Any) -> bool:
        """Whether `value` may travel on a socket of this type (checked by the executor on every output).

        Classes are resolved lazily, and only from modules already imported: a value cannot be an instance of a
        class whose module was never loaded. Protocols are structural and not checked.
        """
        cls = _resolve(self.python_type)
        if cls is None:
            return True
        if cls is float and type(value) is int:
            return True  # JSON and Python both write 8.0 as 8 in places; ComfyUI accepts ints for FLOAT
        if cls is int and type(value) is bool:
            return False
        return isinstance(value, cls)

    @property
    def python_class_name(self) -> str:
        """The class's short name for messages ("Tensor", "dict")."""
        return self.python_type.rpartition(":")[2] or "any object"


def _resolve(python_type: str) -> type | None:
    if not python_type:
        return None
    module_name, _, qualname = python_type.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        if module_name != "builtins":
            return _NEVER_LOADED
        module = importlib.import_module(module_name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    if not isinstance(target, type) or getattr(target, "_is_protocol", False):
        return None
    return target


class _NeverLoaded:
    """Stands for a class whose module is not imported yet: nothing is an instance of it."""


_NEVER_LOADED: type = _NeverLoaded


class SocketTypes:
    """The vocabulary as a value: type names to their definitions. `SOCKET_TYPES` is the process-wide one."""

    def __init__(self, types: tuple[SocketType, ...] = ()) -> None:
        self._types: dict[str, SocketType] = {}
        for item in types:
            self.register(item)

    def register(self, item: SocketType) -> SocketType:
        """Add a type; the same definition again is a no-op, a different one under a known name an error."""
        if not item.name.replace("_", "").isalnum() or item.name.upper() != item.name:
            raise ValueError(f"socket type names are upper-case identifiers, got {item.name!r}")
        existing = self._types.get(item.name)
        if existing is not None and existing != item:
            raise ValueError(f"socket type {item.name!r} is already defined as {existing}, not {item}")
        self._types[item.name] = item
        return item

    def get(self, name: str) -> SocketType | None:
        """The definition of `name`, or None."""
        return self._types.get(name)

    def is_known(self, name: str) -> bool:
        """Whether `name` may appear on a socket: a defined type, a comma union of them, or "*"."""
        if name == ANY_TYPE:
            return True
        return all(part in self._types for part in name.split(","))

    def untyped(self) -> SocketTypes:
        """A copy without Python classes: for registries of stub nodes whose values are placeholders (tests)."""
        return SocketTypes(tuple(replace(item, python_type="") for item in self))

    def __iter__(self) -> Iterator[SocketType]:
        return iter(self._types.values())

    def __contains__(self, name: object) -> bool:
        return name in self._types


#: The built-in vocabulary: ComfyUI's core types. Colours are the editor's; keep `web/src/socketTypes.json` in sync
#: with `python -m graph.sockets > web/src/socketTypes.json` (a test checks it).
BUILTIN_TYPES: tuple[SocketType, ...] = (
    SocketType("MODEL", "diffusion.models.model:UnetModel", "#b39ddb", "a denoising model with its sampling schedule"),
    SocketType("CLIP", "diffusion.text.clip:Clip", "#ffd54f", "text encoder(s) with their tokenizer"),
    SocketType("VAE", "diffusion.vae:Vae", "#ef5350", "the latent <-> image autoencoder"),
    SocketType("CONDITIONING", "builtins:list", "#ffa726", "a list of ConditioningEntry (prompt embeddings)"),
    SocketType("LATENT", "builtins:dict", "#f06292", '{"samples": Tensor[B,C,H/8,W/8], "noise_mask"?, ...}'),
    SocketType("IMAGE", "torch:Tensor", "#64b5f6", "float32 [B,H,W,C] in 0..1"),
    SocketType("MASK", "torch:Tensor", "#81c784", "float32 [B,H,W] in 0..1"),
    SocketType("CONTROL_NET", "diffusion.models.controlnet:ControlNet", "#4db6ac", "a loaded ControlNet"),
    SocketType("SIGMAS", "torch:Tensor", "#cddc39", "a 1-D noise schedule, last value 0"),
    SocketType(
        "SAMPLER", "diffusion.sampling.custom_values:SamplerChoice", "#ec407a", "a sampling algorithm (SamplerCustom)"
    ),
    SocketType(
        "GUIDER",
        "diffusion.sampling.guiders:Guider",
        "#66bb6a",
        "a model plus conditioning and guidance (SamplerCustomAdvanced)",
    ),
    SocketType(
        "NOISE",
        "diffusion.sampling.custom_values:NoiseSource",
        "#bdbdbd",
        "an initial-noise generator (SamplerCustomAdvanced)",
    ),
    SocketType("CLIP_VISION", "diffusion.vision.clip_vision:ClipVision", "#a5d6a7", "a CLIP image encoder"),
    SocketType(
        "CLIP_VISION_OUTPUT", "diffusion.vision.clip_vision:ClipVisionOutput", "#80cbc4", "CLIP image embeddings"
    ),
    SocketType(
        "STYLE_MODEL",
        "diffusion.vision.style_model:StyleModel",
        "#ce93d8",
        "a style model (image embeddings into conditioning)",
    ),
    SocketType("GLIGEN", "", "#9fa8da", "a GLIGEN position-conditioning model"),
    SocketType("UPSCALE_MODEL", "", "#ffab91", "an image upscaling network"),
    SocketType("LATENT_OPERATION", "", "#f48fb1", "a function applied to latents during sampling"),
    SocketType("INT", "builtins:int", "#9ccc65", "an integer"),
    SocketType("FLOAT", "builtins:float", "#aed581", "a floating-point number"),
    SocketType("STRING", "builtins:str", "#90a4ae", "text"),
    SocketType("BOOLEAN", "builtins:bool", "#7986cb", "true or false"),
    SocketType("COMBO", "", "#a1887f", "one of a list of choices"),
)

#: The process-wide vocabulary every part of the engine reads.
SOCKET_TYPES = SocketTypes(BUILTIN_TYPES)

#: The colour of "*" and of undeclared types in the editor.
ANY_COLOR = "#cfd8dc"


def register_socket_type(name: str, *, python_type: str = "", description: str = "") -> SocketType:
    """Declare a new socket type (custom-node packages); see the module docstring. Returns its definition.

    The editor colours a plugin's type by a hash of its name (its palette, socketTypes.json, is the built-ins').
    """
    return SOCKET_TYPES.register(SocketType(name, python_type, "", description))


def socket_type(name: str) -> SocketType | None:
    """The definition of `name` in the process-wide vocabulary, or None."""
    return SOCKET_TYPES.get(name)


def is_known_socket_type(name: str) -> bool:
    """Whether `name` is a declared type, a comma union of declared types, or "*"."""
    return SOCKET_TYPES.is_known(name)


def types_compatible(output_type: str, input_type: str) -> bool:
    """Whether a link from an output of `output_type` may feed an input of `input_type`.

    "*" on either side is a wildcard (reroutes and primitive nodes); everything else is nominal. A
    comma-separated name ("INT,FLOAT", ComfyUI's multi-type sockets) matches when the two sets share a type.
    """
    if output_type == input_type or ANY_TYPE in (output_type, input_type):
        return True
    if "," in output_type or "," in input_type:
        return bool(set(output_type.split(",")) & set(input_type.split(",")))
    return False


def editor_json() -> str:
    """The built-in vocabulary as the editor reads it (web/src/socketTypes.json)."""
    data = {item.name: {"color": item.color, "description": item.description} for item in BUILTIN_TYPES}
    data[ANY_TYPE] = {"color": ANY_COLOR, "description": "any type"}
    return json.dumps(data, indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(editor_json())
