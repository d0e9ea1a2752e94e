"""ComfyUI V1 node classes as Latent Loom node specs.

A V1 class declares its inputs in `INPUT_TYPES()` (required / optional / hidden sections of name -> (type, options)),
its outputs in `RETURN_TYPES` (+ `RETURN_NAMES`, `OUTPUT_TOOLTIPS`), the method to call in `FUNCTION`, and optional
`OUTPUT_NODE`, `CATEGORY`, `DESCRIPTION`, `DEPRECATED`, `IS_CHANGED` and `VALIDATE_INPUTS`. Behaviour follows
ComfyUI's public custom-node documentation; nothing of ComfyUI's code is used.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from graph.sockets import ANY_TYPE, SOCKET_TYPES, Socket, register_socket_type
from graph.spec import Effects, InputSection, InputSpec, NodeDefinitionError, NodeSpec, Outputs, OutputSpec
from graph.widgets import Choices, Hidden, Range, Text, Toggle

#: ComfyUI's hidden inputs the engine fills in. Others (DYNPROMPT, AUTH_TOKEN_COMFY_ORG, ...) are not provided.
HIDDEN_KINDS = ("UNIQUE_ID", "PROMPT", "EXTRA_PNGINFO")
_WIDGETS = ("INT", "FLOAT", "STRING", "BOOLEAN")
#: Bounds of a number widget that declares no min or max (ComfyUI leaves them open).
_INT_BOUND = 2**63
_FLOAT_BOUND = sys.float_info.max


class UnsupportedFeature(NodeDefinitionError):
    """A V1 class uses a part of the API this adapter does not provide (named in the message)."""


def adapt_class(node_type: str, cls: Any, *, display_name: str | None, module: str) -> NodeSpec:
    """The NodeSpec of V1 class `cls` registered as `node_type`; raises NodeDefinitionError naming what is wrong."""
    where = f"custom node {node_type!r} ({module})"
    if not isinstance(cls, type):
        raise NodeDefinitionError(f"{where}: NODE_CLASS_MAPPINGS maps it to {cls!r}, not a class")
    for flag in ("INPUT_IS_LIST", "OUTPUT_IS_LIST"):
        if getattr(cls, flag, False):
            raise UnsupportedFeature(f"{where}: {flag} is not supported yet")
    function_name = getattr(cls, "FUNCTION", None)
    if not isinstance(function_name, str) or not callable(getattr(cls, function_name, None)):
        raise NodeDefinitionError(f"{where}: FUNCTION must name a method of the class, got {function_name!r}")
    declared = _input_types(where, cls)
    inputs = tuple(
        item
        for section in ("required", "optional", "hidden")
        for name, entry in _section(where, declared, section).items()
        if (item := _input(where, cls, section, name, entry)) is not None
    )
    outputs = _outputs(where, cls)
    output_type = _record_type(node_type, outputs)
    output_node = bool(getattr(cls, "OUTPUT_NODE", False))
    return NodeSpec(
        node_id=node_type,
        display_name=display_name or node_type,
        category=str(getattr(cls, "CATEGORY", "sd")),
        description=str(getattr(cls, "DESCRIPTION", "") or ""),
        version=1,
        function=_runner(where, cls, function_name, output_type, outputs, inputs),
        inputs=inputs,
        outputs=outputs,
        output_type=output_type,
        effects=Effects.NONE,
        output_node=output_node,
        fingerprint=_is_changed(cls) if hasattr(cls, "IS_CHANGED") else None,
        module=module,
        deprecated=bool(getattr(cls, "DEPRECATED", False)),
        validate_inputs=_validate_inputs(cls) if hasattr(cls, "VALIDATE_INPUTS") else None,
    )


def _input_types(where: str, cls: Any) -> Mapping[str, Any]:
    try:
        declared = cls.INPUT_TYPES()
    except Exception as error:
        raise NodeDefinitionError(f"{where}: INPUT_TYPES() failed: {type(error).__name__}: {error}") from error
    if not isinstance(declared, Mapping):
        raise NodeDefinitionError(f"{where}: INPUT_TYPES() must return a dict, got {type(declared).__name__}")
    return declared


def _section(where: str, declared: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    entries = declared.get(section) or {}
    if not isinstance(entries, Mapping):
        raise NodeDefinitionError(f"{where}: INPUT_TYPES()[{section!r}] must be a dict")
    return entries


def ensure_socket_type(name: str) -> None:
    """Declare a pack's own socket type on first use (ComfyUI types need no declaration); unions part by part."""
    if name == ANY_TYPE:
        return
    for part in name.split(","):
        if part not in SOCKET_TYPES:
            register_socket_type(part, description="declared by a custom node")


def _input(where: str, cls: Any, section: str, name: str, entry: Any) -> InputSpec | None:
    label = f"{where}: input {name!r}"
    if section == "hidden":
        kind = entry[0] if isinstance(entry, tuple | list) and entry else entry
        if kind not in HIDDEN_KINDS:
            return None  # not provided: the method gets no such argument (documented in docs/custom-nodes.md)
        return InputSpec(name, "hidden", kind, is_socket=False, default=None, hidden=Hidden(kind))
    if not isinstance(entry, tuple | list) or not entry:
        raise NodeDefinitionError(f"{label}: expected a tuple (TYPE, options), got {entry!r}")
    kind, options = entry[0], entry[1] if len(entry) > 1 else {}
    if not isinstance(options, Mapping):
        raise NodeDefinitionError(f"{label}: options must be a dict, got {options!r}")
    input_section: InputSection = "optional" if section == "optional" else "required"
    tooltip = options.get("tooltip")
    if isinstance(kind, list | tuple) or kind == "COMBO":
        return _combo(label, cls, section, name, kind, options, input_section, tooltip)
    if not isinstance(kind, str):
        raise NodeDefinitionError(f"{label}: the type must be a string or a list of choices, got {kind!r}")
    if kind not in _WIDGETS:
        try:
            ensure_socket_type(kind)
        except ValueError as error:
            raise NodeDefinitionError(f"{label}: {error}") from error
        return InputSpec(name, input_section, kind, is_socket=True, default=None, tooltip=tooltip)
    return _widget(label, name, kind, options, input_section, tooltip)


def _widget(
    label: str, name: str, kind: str, options: Mapping[str, Any], section: InputSection, tooltip: str | None
) -> InputSpec:
    default: Any = options.get("default", inspect.Parameter.empty)
    limits: Range | None = None
    if kind in ("INT", "FLOAT"):
        bound = _INT_BOUND if kind == "INT" else _FLOAT_BOUND
        low, high = options.get("min", -bound), options.get("max", bound)
        if default is inspect.Parameter.empty:
            default = low if "min" in options else 0  # ComfyUI's editor starts there
        if kind == "FLOAT" and isinstance(default, int) and not isinstance(default, bool):
            default = float(default)
        step = options.get("step")
        # ComfyUI's server checks only min and max; a FLOAT is held to a grid only when it declares `round`.
        rounding: Any = None
        if kind == "FLOAT":
            rounding = options.get("round", False)
        display: Literal["number", "slider"] = "slider" if options.get("display") == "slider" else "number"
        limits = Range(low, high, step=step if kind == "INT" else None, round=rounding, display=display)
    elif kind == "BOOLEAN" and default is inspect.Parameter.empty:
        default = False
    text = None
    if kind == "STRING":
        text = Text(
            multiline=bool(options.get("multiline", False)),
            dynamic_prompts=bool(options.get("dynamicPrompts", False)),
            placeholder=str(options.get("placeholder", "")),
        )
    toggle = None
    if kind == "BOOLEAN" and ("label_on" in options or "label_off" in options):
        toggle = Toggle(str(options.get("label_on", "true")), str(options.get("label_off", "false")))
    return InputSpec(
        name,
        section,
        kind,
        is_socket=False,
        widget=kind,  # type: ignore[arg-type]  # one of _WIDGETS
        default=default,
        range=limits,
        text=text,
        toggle=toggle,
        tooltip=tooltip,
        force_input=bool(options.get("forceInput", False)),
    )


def _combo(
    label: str,
    cls: Any,
    section: str,
    name: str,
    kind: Any,
    options: Mapping[str, Any],
    input_section: InputSection,
    tooltip: str | None,
) -> InputSpec:
    """A combo: its choices are read from INPUT_TYPES() again each time (file lists change, as in ComfyUI)."""

    def current() -> list[Any]:
        entry = cls.INPUT_TYPES().get(section, {}).get(name, ((),))
        choices = entry[0] if isinstance(entry[0], list | tuple) else (entry[1] if len(entry) > 1 else {}).get(
            "options", []
        )
        return list(choices)

    first = list(kind) if isinstance(kind, list | tuple) else list(options.get("options", []))
    default = options.get("default", first[0] if first else inspect.Parameter.empty)
    return InputSpec(
        name,
        input_section,
        "COMBO",
        is_socket=False,
        widget="COMBO",
        default=default,
        choices=Choices(current, source=f"the choices of {name}"),
        tooltip=tooltip,
        image_upload=bool(options.get("image_upload", False)),
    )


def _outputs(where: str, cls: Any) -> tuple[OutputSpec, ...]:
    kinds = getattr(cls, "RETURN_TYPES", ())
    if not isinstance(kinds, tuple | list):
        raise NodeDefinitionError(f"{where}: RETURN_TYPES must be a tuple, got {kinds!r}")
    names = tuple(getattr(cls, "RETURN_NAMES", None) or ())
    tips = tuple(getattr(cls, "OUTPUT_TOOLTIPS", None) or ())
    outputs = []
    for index, kind in enumerate(kinds):
        if isinstance(kind, list | tuple):
            kind = "COMBO"  # an output that feeds combos (ComfyUI lets a list stand for its choices)
        if not isinstance(kind, str):
            raise NodeDefinitionError(f"{where}: RETURN_TYPES[{index}] must be a type name, got {kind!r}")
        try:
            ensure_socket_type(kind)
        except ValueError as error:
            raise NodeDefinitionError(f"{where}: output {index}: {error}") from error
        display = str(names[index]) if index < len(names) else kind
        tip = str(tips[index]) if index < len(tips) else None
        outputs.append(OutputSpec(f"output_{index}", display, kind, tip))
    return tuple(outputs)


def _record_type(node_type: str, outputs: tuple[OutputSpec, ...]) -> type[Outputs]:
    """An Outputs subclass with one field per output (`output_0`, ...) and `ui`."""

    def body(namespace: dict[str, Any]) -> None:
        annotations: dict[str, Any] = {item.name: Annotated[Any, Socket(item.type_name)] for item in outputs}
        annotations["ui"] = dict[str, Any] | None
        namespace["__annotations__"] = annotations
        namespace["ui"] = None

    safe = "".join(char if char.isalnum() else "_" for char in node_type)
    return types.new_class(f"{safe}_Outputs", (Outputs,), exec_body=body)


def _runner(
    where: str,
    cls: Any,
    function_name: str,
    output_type: type[Outputs],
    outputs: tuple[OutputSpec, ...],
    inputs: tuple[InputSpec, ...],
) -> Callable[..., Outputs]:
    optional = {item.name for item in inputs if item.section == "optional" or item.hidden is not None}

    def run(**kwargs: Any) -> Outputs:
        # ComfyUI passes nothing for an unconnected optional input; packs test `"mask" in kwargs`.
        arguments = {name: value for name, value in kwargs.items() if not (value is None and name in optional)}
        result = getattr(cls(), function_name)(**arguments)
        values, ui = _split_result(where, result, len(outputs))
        return output_type(*values, ui=ui)  # type: ignore[call-arg]  # fields made by _record_type

    run.__qualname__ = f"{cls.__qualname__}.{function_name}"
    run.__module__ = cls.__module__
    return run


def _split_result(where: str, result: Any, count: int) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    """ComfyUI's return forms: a tuple of outputs, or {"ui": {...}, "result": (...)}; None for output-only nodes."""
    ui = None
    if isinstance(result, Mapping):
        ui = result.get("ui")
        if ui is not None and not isinstance(ui, dict):
            raise TypeError(f"{where} returned a ui of type {type(ui).__name__}, expected a dict")
        result = result.get("result", ())
    if result is None:
        result = ()
    if not isinstance(result, tuple | list):
        raise TypeError(f"{where} returned a {type(result).__name__}, expected a tuple of {count} outputs")
    if len(result) != count:
        raise TypeError(f"{where} returned {len(result)} values, expected {count} (RETURN_TYPES)")
    return tuple(result), ui


def _accepted(function: Callable[..., Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments `function` takes from `values` (all of them when it has **kwargs)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return dict(values)
    if any(item.kind is inspect.Parameter.VAR_KEYWORD for item in parameters.values()):
        return dict(values)
    return {name: value for name, value in values.items() if name in parameters}


def _is_changed(cls: Any) -> Callable[[Mapping[str, Any]], str]:
    """IS_CHANGED joins the cache key; NaN (ComfyUI's "always") makes every run a new key."""

    def fingerprint(constants: Mapping[str, Any]) -> str:
        method = cls.IS_CHANGED
        value = method(**_accepted(method, constants))
        if isinstance(value, float) and math.isnan(value):
            return os.urandom(16).hex()
        return repr(value)

    return fingerprint


def _validate_inputs(cls: Any) -> Callable[[Mapping[str, Any]], str | None]:
    """VALIDATE_INPUTS at validation: True passes, anything else is the reason the workflow is refused."""

    def validate(constants: Mapping[str, Any]) -> str | None:
        method = cls.VALIDATE_INPUTS
        outcome = method(**_accepted(method, constants))
        if outcome is True:
            return None
        return str(outcome) if outcome else "VALIDATE_INPUTS refused the inputs"

    return validate
