"""The node API: a node is one typed function; `@node` introspects it once into an immutable `NodeSpec`.

    class Sampled(Outputs):
        latent: Annotated[LatentDict, Socket("LATENT")]

    @node("KSampler", category="sampling", version=1)
    def ksampler(model: Annotated[DiffusionModel, Socket("MODEL")], seed: Seed = 0, ...) -> Sampled:
        \"\"\"Denoise a latent.\"\"\"

Parameter order is ComfyUI's `input_order`; the return annotation's fields are the ordered outputs.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, get_args, get_origin

from graph.sockets import Socket
from graph.widgets import (
    Allocates,
    Choices,
    ForceInput,
    Hidden,
    ImageUpload,
    Label,
    OptionalInput,
    Range,
    SeedWidget,
    Text,
    Toggle,
    Tooltip,
)


class Effects(enum.Flag):
    """Side effects a node declares; they decide caching."""

    NONE = 0
    #: Reads files named by its inputs: the node's `fingerprint` joins the cache key.
    READS_FILES = enum.auto()
    #: Writes files (an output sink): always runs, never served from cache.
    WRITES_FILES = enum.auto()
    #: Gives different results for the same inputs: never cached.
    NONDETERMINISTIC = enum.auto()


class NodeDefinitionError(Exception):
    """A node definition breaks a rule of the node API (found at import, reported by the registry)."""


@typing.dataclass_transform(frozen_default=True)  # so type checkers see subclasses' generated __init__
@dataclass(frozen=True)
class Outputs:
    """Base of every node's output record. Subclasses are frozen dataclasses automatically.

    Fields annotated with a `Socket` are the outputs, in order. A field named `ui` (no socket) carries what
    the editor shows for an output node, e.g. `{"images": [{"filename": ..., "subfolder": ..., "type": ...}]}`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)


class NoOutputs(Outputs):
    """The record of an output node that only shows something in the editor."""

    ui: dict[str, list[Any]] | None = None


WidgetKind = Literal["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"]
InputSection = Literal["required", "optional", "hidden"]


@dataclass(frozen=True)
class InputSpec:
    """One input of a node: a socket (`socket_type`) or a widget (`widget`)."""

    name: str
    section: InputSection
    #: The socket type for links ("MODEL", ...); widgets have their widget kind here ("INT", "COMBO", ...).
    type_name: str
    is_socket: bool
    widget: WidgetKind | None = None
    default: Any = inspect.Parameter.empty
    range: Range | None = None
    text: Text | None = None
    #: Fixed combo options (from a `Literal`).
    options: tuple[Any, ...] | None = None
    #: Dynamic combo options (files in a folder).
    choices: Choices | None = None
    seed: SeedWidget | None = None
    toggle: Toggle | None = None
    tooltip: str | None = None
    image_upload: bool = False
    force_input: bool = False
    hidden: Hidden | None = None
    #: Which dimension of an allocated image/latent this INT input is (`Allocates`), for the pixel limit.
    allocates: Literal["width", "height", "batch"] | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not inspect.Parameter.empty

    def combo_options(self) -> list[Any]:
        """The current options of a combo input (calls the provider for dynamic lists)."""
        if self.options is not None:
            return list(self.options)
        if self.choices is not None:
            return list(self.choices.provider())
        return []


@dataclass(frozen=True)
class OutputSpec:
    """One output socket of a node, addressed by index or by name."""

    name: str
    display_name: str
    type_name: str
    tooltip: str | None = None


@dataclass(frozen=True)
class NodeSpec:
    """Everything the engine, the validator and the schema export know about a node type."""

    node_id: str
    display_name: str
    category: str
    description: str
    version: int
    function: Callable[..., Outputs]
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    output_type: type[Outputs]
    effects: Effects
    output_node: bool
    #: For READS_FILES nodes: maps the node's widget values to a string that changes when the file does.
    fingerprint: Callable[[Mapping[str, Any]], str] | None
    module: str
    deprecated: bool = False
    #: A check of the node's constant inputs together, made at validation (after the per-input checks pass):
    #: returns why they are refused, or None. Custom-node adapters put ComfyUI's VALIDATE_INPUTS here.
    validate_inputs: Callable[[Mapping[str, Any]], str | None] | None = None

    def input(self, name: str) -> InputSpec | None:
        """The input called `name`, or None."""
        return self.inputs_by_name.get(name)

    @functools.cached_property
    def inputs_by_name(self) -> dict[str, InputSpec]:
        """Inputs keyed by name (computed once; the engine looks inputs up per node per job)."""
        return {spec.name: spec for spec in self.inputs}

    @functools.cached_property
    def allocated_inputs(self) -> dict[str, str]:
        """Axis ("width", "height", "batch") → the input marked with it (`Allocates`)."""
        return {item.allocates: item.name for item in self.inputs if item.allocates is not None}

    @property
    def cacheable(self) -> bool:
        """Whether outputs may be served from the cache (sinks and nondeterministic nodes always run)."""
        return not (self.effects & (Effects.WRITES_FILES | Effects.NONDETERMINISTIC))


FunctionT = TypeVar("FunctionT", bound=Callable[..., Outputs])


class SpecSink(Protocol):
    """Where `@node(registry=...)` puts a definition: a `graph.registry.NodeRegistry` (named by protocol, so
    this module does not import the registry, which imports it)."""

    def register(self, spec: NodeSpec) -> None: ...


#: Definitions made without an explicit registry, by defining module then node id: what a loader collects
#: into the registry it is building (`NodeRegistry.load_module`). A record of what was defined, not a registry.
_DEFINED: dict[str, dict[str, NodeSpec]] = {}
_generation = [0]  # bumped on every change of _DEFINED, so views of it know when to look again


def definitions_generation() -> int:
    """A number that changes whenever a node is defined or forgotten."""
    return _generation[0]


def defined_in(module: str) -> list[NodeSpec]:
    """The nodes defined (without an explicit registry) by `module` and its submodules, in definition order."""
    prefix = module + "."
    return [
        spec for name, specs in _DEFINED.items() if name == module or name.startswith(prefix) for spec in specs.values()
    ]


def forget_definitions(module: str) -> None:
    """Drop what `module` (and its submodules) defined: a module that failed half-way contributes nothing."""
    prefix = module + "."
    for name in [name for name in _DEFINED if name == module or name.startswith(prefix)]:
        del _DEFINED[name]
    _generation[0] += 1


def all_defined() -> list[NodeSpec]:
    """Every node defined without an explicit registry in this process."""
    return [spec for specs in _DEFINED.values() for spec in specs.values()]


def node(
    node_id: str,
    *,
    category: str,
    version: int = 1,
    display_name: str | None = None,
    description: str | None = None,
    effects: Effects = Effects.NONE,
    output_node: bool = False,
    fingerprint: Callable[[Mapping[str, Any]], str] | None = None,
    deprecated: bool = False,
    registry: SpecSink | None = None,
) -> Callable[[FunctionT], FunctionT]:
    """Define a typed function as a node type; the function is returned unchanged.

    With `registry`, the node is registered there now (and checked against its rules). Without, it is recorded
    as defined by its module, and the loader that imports the module collects it into the registry it builds
    (the built-in catalog, a custom-node package): nodes go to the registry they are given.
    """

    def register(function: FunctionT) -> FunctionT:
        spec = build_spec(
            function,
            node_id=node_id,
            category=category,
            version=version,
            display_name=display_name or node_id,
            description=description if description is not None else (inspect.getdoc(function) or ""),
            effects=effects,
            output_node=output_node or bool(effects & Effects.WRITES_FILES),
            fingerprint=fingerprint,
            deprecated=deprecated,
        )
        if registry is not None:
            registry.register(spec)
        else:
            _DEFINED.setdefault(spec.module, {})[node_id] = spec  # a reloaded module replaces its own
            _generation[0] += 1
        return function

    return register


def build_spec(
    function: Callable[..., Outputs],
    *,
    node_id: str,
    category: str,
    version: int,
    display_name: str,
    description: str,
    effects: Effects,
    output_node: bool,
    fingerprint: Callable[[Mapping[str, Any]], str] | None,
    deprecated: bool,
) -> NodeSpec:
    """Introspect `function` into a NodeSpec; raises NodeDefinitionError for anything ill-formed."""
    where = f"node {node_id!r} ({function.__module__}.{function.__qualname__})"
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as error:  # a bad forward reference is a definition error, reported by name
        raise NodeDefinitionError(f"{where}: cannot resolve its type annotations: {error}") from error
    signature = inspect.signature(function)
    inputs = tuple(
        _input_spec(where, name, hints.get(name), parameter.default) for name, parameter in signature.parameters.items()
    )
    output_type = hints.get("return")
    if not (isinstance(output_type, type) and issubclass(output_type, Outputs)):
        raise NodeDefinitionError(f"{where}: the return annotation must be an Outputs subclass, got {output_type!r}")
    if (effects & Effects.READS_FILES) and fingerprint is None:
        raise NodeDefinitionError(f"{where}: READS_FILES needs a fingerprint= function")
    if version < 1:
        raise NodeDefinitionError(f"{where}: version must be >= 1, got {version}")
    return NodeSpec(
        node_id=node_id,
        display_name=display_name,
        category=category,
        description=description,
        version=version,
        function=function,
        inputs=inputs,
        outputs=_output_specs(where, output_type),
        output_type=output_type,
        effects=effects,
        output_node=output_node,
        fingerprint=fingerprint,
        module=function.__module__,
        deprecated=deprecated,
    )


def _split_annotated(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    if get_origin(annotation) is typing.Annotated:
        base, *metadata = get_args(annotation)
        return base, tuple(metadata)
    return annotation, ()


def _input_spec(where: str, name: str, annotation: Any, default: Any) -> InputSpec:
    if annotation is None:
        raise NodeDefinitionError(f"{where}: parameter {name!r} has no type annotation")
    base, metadata = _split_annotated(annotation)
    marks = {type(item): item for item in metadata}
    tooltip = marks[Tooltip].text if Tooltip in marks else None
    if Hidden in marks:
        hidden: Hidden = marks[Hidden]
        return InputSpec(name, "hidden", hidden.kind, is_socket=False, default=default, hidden=hidden)
    section: InputSection = "optional" if OptionalInput in marks else "required"
    if Socket in marks:
        return InputSpec(name, section, marks[Socket].type_name, is_socket=True, default=default, tooltip=tooltip)
    widget, options = _widget_kind(where, name, base, marks)
    return InputSpec(
        name,
        section,
        widget,
        is_socket=False,
        widget=widget,
        default=default,
        range=marks.get(Range),
        text=marks.get(Text, Text() if widget == "STRING" else None),
        options=options,
        choices=marks.get(Choices),
        seed=marks.get(SeedWidget),
        toggle=marks.get(Toggle),
        tooltip=tooltip,
        image_upload=ImageUpload in marks,
        force_input=ForceInput in marks,
        allocates=marks[Allocates].axis if Allocates in marks else None,
    )


def _widget_kind(
    where: str, name: str, base: Any, marks: Mapping[type, Any]
) -> tuple[WidgetKind, tuple[Any, ...] | None]:
    """Map a parameter's base type to a widget kind; metadata that does not fit the type is an error."""
    if get_origin(base) is Literal:
        return "COMBO", tuple(get_args(base))
    if Choices in marks:
        if base is not str:
            raise NodeDefinitionError(f"{where}: Choices on {name!r} needs a str parameter, got {base!r}")
        return "COMBO", None
    kinds: dict[Any, WidgetKind] = {bool: "BOOLEAN", int: "INT", float: "FLOAT", str: "STRING"}
    if base not in kinds:
        raise NodeDefinitionError(
            f"{where}: parameter {name!r} is neither a socket (Annotated[..., Socket(...)]) nor a widget "
            f"(int, float, str, bool, Literal), got {base!r}"
        )
    kind = kinds[base]
    if Range in marks and kind not in ("INT", "FLOAT"):
        raise NodeDefinitionError(f"{where}: Range on {name!r} needs int or float, got {base!r}")
    if Text in marks and kind != "STRING":
        raise NodeDefinitionError(f"{where}: Text on {name!r} needs str, got {base!r}")
    if SeedWidget in marks and kind != "INT":
        raise NodeDefinitionError(f"{where}: a seed {name!r} must be an int")
    if Allocates in marks and kind != "INT":
        raise NodeDefinitionError(f"{where}: Allocates on {name!r} needs int, got {base!r}")
    if Toggle in marks and kind != "BOOLEAN":
        raise NodeDefinitionError(f"{where}: Toggle on {name!r} needs bool, got {base!r}")
    return kind, None


def _output_specs(where: str, output_type: type[Outputs]) -> tuple[OutputSpec, ...]:
    hints = typing.get_type_hints(output_type, include_extras=True)
    specs: list[OutputSpec] = []
    for field in dataclasses.fields(output_type):
        _, metadata = _split_annotated(hints[field.name])
        marks = {type(item): item for item in metadata}
        if Socket not in marks:
            if field.name == "ui":
                continue
            raise NodeDefinitionError(
                f"{where}: output field {field.name!r} needs Annotated[..., Socket(TYPE)] (only `ui` may omit it)"
            )
        specs.append(
            OutputSpec(
                name=field.name,
                display_name=marks[Label].text if Label in marks else field.name.upper(),
                type_name=marks[Socket].type_name,
                tooltip=marks[Tooltip].text if Tooltip in marks else None,
            )
        )
    return tuple(specs)
