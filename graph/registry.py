"""The registry of node types: checks every definition when it registers, loads node modules safely."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from graph.sockets import SOCKET_TYPES, SocketTypes
from graph.spec import (
    InputSpec,
    NodeDefinitionError,
    NodeSpec,
    all_defined,
    defined_in,
    definitions_generation,
    forget_definitions,
)

log = logging.getLogger(__name__)

#: Turns what a plugin module exports in another node API (ComfyUI's NODE_CLASS_MAPPINGS) into specs: returns
#: the specs and one message per node it could not adapt (those nodes are left out, the others load).
ModuleAdapter = Callable[[types.ModuleType], tuple[list[NodeSpec], list[str]]]


@dataclass(frozen=True)
class ModuleLoadError:
    """A node module that could not be imported or whose nodes broke the rules; the rest still loads."""

    module: str
    message: str


@dataclass
class NodeRegistry:
    """Node types by id: a value. The built-in catalog and each custom-node package build their own, then merge.

    Ids are unique: a second registration of an id is an error, never an override.
    """

    specs: dict[str, NodeSpec] = field(default_factory=dict)
    load_errors: list[ModuleLoadError] = field(default_factory=list)
    #: Plugins (custom_nodes entries) that loaded, by name ("my_pack", "single_file.py"), in load order.
    plugins: list[str] = field(default_factory=list)
    #: A plugin's editor extension folder (its module's `WEB_DIRECTORY`, ComfyUI's convention), by plugin name;
    #: served under /extensions/<name>/.
    web_directories: dict[str, Path] = field(default_factory=dict)
    #: The vocabulary its nodes' sockets are checked against (definitions, links, output values).
    socket_types: SocketTypes = SOCKET_TYPES

    def register(self, spec: NodeSpec) -> None:
        """Check `spec` against the rules of the node API and add it."""
        check_spec(spec, self.socket_types)
        existing = self.specs.get(spec.node_id)
        if existing is not None and existing.function is not spec.function:
            if existing.module == spec.module and existing.function.__qualname__ == spec.function.__qualname__:
                # The same module imported again (importlib.reload in development): replace.
                self.specs[spec.node_id] = spec
                return
            raise NodeDefinitionError(
                f"node id {spec.node_id!r} from {spec.module} is already registered by {existing.module}"
            )
        self.specs[spec.node_id] = spec

    def get(self, node_id: str) -> NodeSpec | None:
        return self.specs.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.specs

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self.specs.values())

    def __len__(self) -> int:
        return len(self.specs)

    def merge(self, other: NodeRegistry) -> None:
        """Add every node of `other` (all or none: an id clash is an error naming both modules)."""
        for spec in other:
            existing = self.specs.get(spec.node_id)
            if existing is not None and existing.function is not spec.function and existing.module != spec.module:
                raise NodeDefinitionError(
                    f"node id {spec.node_id!r} from {spec.module} is already registered by {existing.module}"
                )
        self.specs.update(other.specs)
        self.load_errors.extend(other.load_errors)
        self.plugins.extend(other.plugins)
        self.web_directories.update(other.web_directories)

    def load_module(self, module_name: str) -> bool:
        """Import a node module and add the nodes it defines; a failure is recorded in `load_errors`, never raised."""
        return self._guarded(module_name, module_name, lambda: importlib.import_module(module_name))

    def load_file(self, path: Path, adapters: tuple[ModuleAdapter, ...] = ()) -> bool:
        """Import a plugin module from a file or a package folder (custom_nodes/) and add its nodes."""
        target = path / "__init__.py" if path.is_dir() else path
        module_name = f"custom_nodes.{path.stem}"

        def load() -> None:
            # A package gets its folder as search path and a `custom_nodes` parent, so `from . import x` works.
            search = [str(path)] if path.is_dir() else None
            spec = importlib.util.spec_from_file_location(module_name, target, submodule_search_locations=search)
            if "custom_nodes" not in sys.modules:
                parent = types.ModuleType("custom_nodes")
                parent.__path__ = []
                sys.modules["custom_nodes"] = parent
            if spec is None or spec.loader is None:
                raise ImportError(f"not an importable module: {target}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)

        if not self._guarded(str(path), module_name, load, adapters):
            return False
        self.plugins.append(path.name)
        web = getattr(sys.modules.get(module_name), "WEB_DIRECTORY", None)
        if isinstance(web, str) and path.is_dir():
            folder = (path / web).resolve()
            if folder.is_dir() and folder.is_relative_to(path.resolve()):
                self.web_directories[path.name] = folder
        return True

    def load_plugins(self, directory: Path, adapters: tuple[ModuleAdapter, ...] = ()) -> None:
        """Load every plugin module and package of a custom_nodes folder, in name order, each one guarded.

        The one plugin loader: the server and the CLI both call it (through `nodes.load_catalog`).
        """
        if not directory.is_dir():
            return
        for entry in sorted(directory.iterdir()):
            is_module = entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").exists())
            if is_module and not entry.name.startswith(("_", ".")):
                self.load_file(entry, adapters)

    def _guarded(
        self, name: str, module_name: str, load: Callable[[], object], adapters: tuple[ModuleAdapter, ...] = ()
    ) -> bool:
        """Import, then build the module's own registry from what it defined, then merge it: all or nothing."""
        try:
            load()
            own = NodeRegistry(socket_types=self.socket_types)
            for spec in defined_in(module_name):
                own.register(spec)
            problems: list[str] = []
            module = sys.modules.get(module_name)
            for adapt in adapters if module is not None else ():
                specs, skipped = adapt(module)  # type: ignore[arg-type]  # not None here
                problems.extend(skipped)
                for spec in specs:
                    own.register(spec)
            self.merge(own)
            for problem in problems:
                log.warning("node module %s: %s", name, problem)
                self.load_errors.append(ModuleLoadError(name, problem))
        except Exception as error:
            forget_definitions(module_name)  # a half-loaded module contributes nothing
            message = f"{type(error).__name__}: {error}"
            log.warning("node module %s failed to load: %s\n%s", name, message, traceback.format_exc())
            self.load_errors.append(ModuleLoadError(name, message))
            return False
        return True


class _EveryDefinedNode(NodeRegistry):
    """Compatibility view (until the end of the redesign): every node defined in this process, registered on
    first look. New code takes the registry `nodes.load_catalog()` returns, or builds its own."""

    _seen_generation = -1

    def _sync(self) -> None:
        if self._seen_generation == definitions_generation():
            return
        self._seen_generation = definitions_generation()
        for spec in all_defined():
            if self.specs.get(spec.node_id) is not spec:
                try:
                    self.register(spec)
                except NodeDefinitionError as error:
                    log.warning("%s", error)

    def get(self, node_id: str) -> NodeSpec | None:
        self._sync()
        return self.specs.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        self._sync()
        return node_id in self.specs

    def __iter__(self) -> Iterator[NodeSpec]:
        self._sync()
        return iter(list(self.specs.values()))

    def __len__(self) -> int:
        self._sync()
        return len(self.specs)


def check_spec(spec: NodeSpec, socket_types: SocketTypes = SOCKET_TYPES) -> None:
    """The rules every node satisfies; raises NodeDefinitionError naming the node and the input."""
    where = f"node {spec.node_id!r} ({spec.module})"
    if not valid_node_id(spec.node_id):
        raise NodeDefinitionError(
            f"{where}: ids are non-empty printable text without surrounding spaces, got {spec.node_id!r}"
        )
    for input_spec in spec.inputs:
        _check_input(where, input_spec, socket_types)
    for output in spec.outputs:
        if not socket_types.is_known(output.type_name):
            raise NodeDefinitionError(f"{where}: output {output.name!r} has unknown socket type {output.type_name!r}")
    if not spec.outputs and not spec.output_node:
        raise NodeDefinitionError(f"{where}: a node without outputs must be an output node")


def valid_node_id(node_id: str) -> bool:
    """ComfyUI's rule for node type names: printable, no surrounding whitespace, at most 200 characters.

    Packs name nodes "Image Blend (WAS)" or "CR Image Panel"; a workflow carries the name as written.
    """
    return 0 < len(node_id) <= 200 and node_id.isprintable() and node_id == node_id.strip()


def _check_input(where: str, spec: InputSpec, socket_types: SocketTypes) -> None:
    label = f"{where}: input {spec.name!r}"
    if spec.is_socket:
        if not socket_types.is_known(spec.type_name):
            raise NodeDefinitionError(f"{label} has unknown socket type {spec.type_name!r}")
        return
    if spec.section == "hidden":
        return
    if spec.options is not None:
        if not spec.options:
            raise NodeDefinitionError(f"{label}: the choice list is empty")
        if len(set(spec.options)) != len(spec.options):
            raise NodeDefinitionError(f"{label}: the choice list has duplicates")
    if not spec.has_default:
        # Text may start empty without saying so (ComfyUI's CLIPTextEncode declares no default for `text`).
        if spec.widget in ("INT", "FLOAT", "BOOLEAN"):
            raise NodeDefinitionError(f"{label}: a widget needs a default")
        return
    default = spec.default
    if spec.widget == "COMBO":
        if spec.options is not None and default not in spec.options:
            raise NodeDefinitionError(f"{label}: default {default!r} is not one of the choices")
        return
    expected = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}[spec.widget or "STRING"]
    if spec.widget == "INT" and isinstance(default, bool):
        raise NodeDefinitionError(f"{label}: default of an INT must be an int, got a bool")
    if not isinstance(default, expected):
        raise NodeDefinitionError(f"{label}: default {default!r} is not a {expected.__name__}")
    if spec.range is not None and isinstance(default, int | float):
        problem = range_problem(default, spec)
        if problem:
            raise NodeDefinitionError(f"{label}: default {default!r} {problem}")
    if spec.text is not None and isinstance(default, str) and len(default) > spec.text.max_length:
        raise NodeDefinitionError(f"{label}: default is longer than max_length")


def range_problem(value: float, spec: InputSpec) -> str | None:
    """Why `value` breaks the input's limits (range or step grid), or None when it fits."""
    limits = spec.range
    if limits is None:
        return None
    if value < limits.min or value > limits.max:
        return f"is outside {format_number(limits.min)}..{format_number(limits.max)}"
    grid = limits.round if spec.widget == "FLOAT" and limits.round is not None else limits.step
    if grid and not on_grid(value, limits.min, grid):
        return f"is not on the step grid {format_number(limits.min)} + k·{format_number(grid)}"
    return None


def on_grid(value: float, origin: float, step: float) -> bool:
    """Whether value = origin + k·step for an integer k (to float precision)."""
    if isinstance(value, int) and isinstance(origin, int) and isinstance(step, int):
        return (value - origin) % step == 0
    k = (value - origin) / step
    return math.isclose(k, round(k), rel_tol=0.0, abs_tol=1e-6 * max(1.0, abs(k)))


def format_number(value: float) -> str:
    """A compact number for messages (ints without '.0')."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**64 else repr(value)


#: Deprecated: every node defined in this process (see `_EveryDefinedNode`).
REGISTRY: NodeRegistry = _EveryDefinedNode()
