"""Per-node checks of a workflow: types, limits, choices, links, text; each failure becomes a ValidationIssue."""

from __future__ import annotations

import math
from typing import Any

from graph.issues import MAX_LISTED_OPTIONS, Limits, ValidationIssue
from graph.registry import NodeRegistry, format_number, on_grid
from graph.sockets import types_compatible
from graph.spec import InputSpec, NodeSpec
from graph.workflow import Link, Workflow, WorkflowNode, short_repr

#: The suffix ComfyUI appends to file choices that live in input/ ("x.png [input]").
INPUT_ANNOTATION = " [input]"


class NodeChecker:
    """Checks nodes one at a time, collecting issues; providers of dynamic choices are called once per input."""

    def __init__(self, workflow: Workflow, registry: NodeRegistry, limits: Limits) -> None:
        self.workflow = workflow
        self.registry = registry
        self.limits = limits
        self.issues: list[ValidationIssue] = []
        self._options: dict[int, tuple[list[Any], frozenset[Any] | None] | Exception] = {}

    def report(self, node: WorkflowNode, code: str, problem: str, *, name: str | None = None, **facts: Any) -> None:
        """Record an issue at `node` (and input `name`); the message starts with where it is."""
        where = f"node {node.node_id} ({node.class_type})" + (f" input {name!r}" if name else "")
        expected = facts.pop("expected", None)
        received = facts.pop("received", None)
        self.issues.append(
            ValidationIssue(
                code, f"{where}: {problem}", node.node_id, node.class_type, name, expected, received, extra=facts
            )
        )

    def check_node(self, node: WorkflowNode) -> None:
        """Check the type, every input and the required inputs of one node."""
        """Record an issue at `node` (and input `name`), prefixing where it is."""
        spec = self.registry.get(node.class_type)
        if spec is None:
            self.report(
                node,
                "unknown_node_type",
                f"unknown node type {node.class_type!r} at node {node.node_id}",
                expected="a registered node type",
                received=node.class_type,
            )
            return
        by_name = spec.inputs_by_name
        for name, value in node.inputs.items():
            item = by_name.get(name)
            if item is None or item.section == "hidden":
                if name == "upload" and any(i.image_upload for i in spec.inputs):
                    continue  # ComfyUI's frontend sends LoadImage's upload button as an input; it carries nothing
                self._unknown_input(node, spec, name, item)
            elif isinstance(value, Link):
                self._check_link(node, item, value)
            elif item.is_socket:
                self.report(
                    node,
                    "invalid_input_type",
                    f"expected a link from a {item.type_name} output, received the constant {short_repr(value)}",
                    name=name,
                    expected=f"link from {item.type_name}",
                    received=short_repr(value),
                )
            else:
                self.check_constant(node, item, value)
        for item in spec.inputs:
            if item.section == "required" and item.name not in node.inputs:
                kind = f"a value of type {item.type_name}"
                if item.is_socket:
                    kind = f"a link from a {item.type_name} output"
                self.report(
                    node,
                    "required_input_missing",
                    f"required input is missing: expected {kind}",
                    name=item.name,
                    expected=kind,
                    received=None,
                )
        self._check_pixels(node, spec)
        if spec.validate_inputs is not None and not any(issue.node_id == node.node_id for issue in self.issues):
            self._check_together(node, spec)

    def _check_together(self, node: WorkflowNode, spec: NodeSpec) -> None:
        """The node's own check of its constant inputs (ComfyUI's VALIDATE_INPUTS), once each input is valid."""
        assert spec.validate_inputs is not None
        constants = {name: value for name, value in node.inputs.items() if not isinstance(value, Link)}
        try:
            problem = spec.validate_inputs(constants)
        except Exception as error:  # the node's own check broke: refuse, naming the error, never a traceback
            problem = f"its input check raised {type(error).__name__}: {error}"
        if problem is not None:
            expected = "inputs its check accepts"
            self.report(node, "custom_validation_failed", problem, expected=expected, received=constants)

    def _unknown_input(self, node: WorkflowNode, spec: NodeSpec, name: str, item: InputSpec | None) -> None:
        names = [i.name for i in spec.inputs if i.section != "hidden"]
        why = "is filled in by the engine" if item is not None else f"is not an input of {spec.node_id}"
        self.report(
            node,
            "unknown_input",
            f"{why}; its inputs are {names}",
            name=name,
            expected=f"one of {names}",
            received=name,
        )

    def _check_link(self, node: WorkflowNode, item: InputSpec, link: Link) -> None:
        source = self.workflow.nodes.get(link.node_id)
        if source is None:
            self.report(
                node,
                "bad_linked_input",
                f"links to node {link.node_id!r}, which is not in the workflow",
                name=item.name,
                expected="an existing node id",
                received=[link.node_id, link.output],
                linked_node=[link.node_id, link.output],
            )
            return
        source_spec = self.registry.get(source.class_type)
        if source_spec is None:
            return  # the unknown type is reported at the source node
        if not 0 <= link.output < len(source_spec.outputs):
            count = len(source_spec.outputs)
            self.report(
                node,
                "bad_linked_input",
                f"links to output {link.output} of node {link.node_id} ({source.class_type}), "
                f"which has {count} output{'s' if count != 1 else ''} (0..{count - 1})",
                name=item.name,
                expected=f"an output index 0..{count - 1}",
                received=link.output,
                linked_node=[link.node_id, link.output],
            )
            return
        received = source_spec.outputs[link.output].type_name
        if not types_compatible(received, item.type_name):
            self.report(
                node,
                "return_type_mismatch",
                f"expected {item.type_name}, received {received} from output {link.output} of node "
                f"{link.node_id} ({source.class_type})",
                name=item.name,
                expected=item.type_name,
                received=received,
                received_type=received,
                linked_node=[link.node_id, link.output],
            )

    def check_constant(self, node: WorkflowNode, item: InputSpec, value: Any) -> None:
        """Check a constant widget value: exact JSON type, finite, limits, step grid, choices, text."""
        name = item.name
        if isinstance(value, list | dict) and _nesting(value, self.limits.max_nesting) > self.limits.max_nesting:
            self.report(
                node,
                "value_too_deep",
                f"the value nests deeper than {self.limits.max_nesting} levels",
                name=name,
                expected=f"at most {self.limits.max_nesting} levels",
                received="a deep structure",
            )
            return
        widget = item.widget
        if widget == "INT":
            self._check_int(node, item, value)
        elif widget == "FLOAT":
            self._check_float(node, item, value)
        elif widget == "BOOLEAN":
            if type(value) is not bool:
                self._wrong_type(node, item, value, "a boolean (true or false)")
        elif widget == "STRING":
            self._check_text(node, item, value)
        elif widget == "COMBO":
            self._check_choice(node, item, value)

    def _wrong_type(self, node: WorkflowNode, item: InputSpec, value: Any, expected: str) -> None:
        self.report(
            node,
            "invalid_input_type",
            f"expected {expected}, received {_describe(value)} (values are never converted)",
            name=item.name,
            expected=item.type_name,
            received=short_repr(value),
        )

    def _check_int(self, node: WorkflowNode, item: InputSpec, value: Any) -> None:
        if type(value) is not int:
            self._wrong_type(node, item, value, "an integer")
            return
        self._check_range(node, item, value)

    def _check_float(self, node: WorkflowNode, item: InputSpec, value: Any) -> None:
        if type(value) is int:
            if float(value) != value:
                self._wrong_type(node, item, value, "a number representable as a float")
                return
        elif type(value) is not float:
            self._wrong_type(node, item, value, "a number")
            return
        elif not math.isfinite(value):
            self.report(
                node,
                "value_not_finite",
                f"expected a finite number, received {value!r}",
                name=item.name,
                expected="a finite FLOAT",
                received=repr(value),
            )
            return
        self._check_range(node, item, value)

    def _check_range(self, node: WorkflowNode, item: InputSpec, value: float) -> None:
        limits = item.range
        if limits is None:
            return
        grid = limits.round if item.widget == "FLOAT" and limits.round is not None else limits.step
        if limits.min <= value <= limits.max and (not grid or on_grid(value, limits.min, grid)):
            return  # the common case, checked without building any message
        bounds = f"{format_number(limits.min)}..{format_number(limits.max)}"
        if value < limits.min:
            self.report(
                node,
                "value_smaller_than_min",
                f"value {format_number(value)} is smaller than the minimum {format_number(limits.min)}",
                name=item.name,
                expected=bounds,
                received=value,
            )
            return
        if value > limits.max:
            self.report(
                node,
                "value_bigger_than_max",
                f"value {format_number(value)} is bigger than the maximum {format_number(limits.max)}",
                name=item.name,
                expected=bounds,
                received=value,
            )
            return
        if grid and not on_grid(value, limits.min, grid):
            below = limits.min + math.floor((value - limits.min) / grid) * grid
            nearest = [n for n in (below, below + grid) if limits.min <= n <= limits.max]
            shown = " or ".join(_grid_number(n, grid) for n in nearest)
            self.report(
                node,
                "value_off_step_grid",
                f"value {format_number(value)} is not on the step grid {format_number(limits.min)} + "
                f"k·{format_number(grid)}; the nearest valid values are {shown}",
                name=item.name,
                expected=f"{bounds} in steps of {format_number(grid)}",
                received=value,
                nearest=nearest,
            )

    def _check_text(self, node: WorkflowNode, item: InputSpec, value: Any) -> None:
        if type(value) is not str:
            self._wrong_type(node, item, value, "a string")
            return
        cap = min(item.text.max_length if item.text else self.limits.max_text_length, self.limits.max_text_length)
        if len(value) > cap:
            self.report(
                node,
                "value_too_long",
                f"text of {len(value)} characters is longer than the limit of {cap}",
                name=item.name,
                expected=f"at most {cap} characters",
                received=f"{len(value)} characters",
            )
            return
        if "\x00" in value or (not value.isascii() and _has_lone_surrogate(value)):
            self.report(
                node,
                "invalid_text",
                "text contains a NUL character or an unpaired UTF-16 surrogate",
                name=item.name,
                expected="valid Unicode text without NUL",
                received=short_repr(value),
            )
            return
        problem = item.text.check(value) if item.text is not None and item.text.check is not None else None
        if problem is not None:
            self.report(
                node,
                "invalid_filename",
                problem,
                name=item.name,
                expected="a file name inside its folder",
                received=short_repr(value),
            )

    def _check_choice(self, node: WorkflowNode, item: InputSpec, value: Any) -> None:
        current = self._current_options(item)
        if isinstance(current, Exception):
            self.report(
                node,
                "exception_during_validation",
                f"listing the choices failed: {type(current).__name__}: {current}",
                name=item.name,
                expected="a choice",
                received=short_repr(value),
            )
            return
        options, as_set = current
        if type(value) is str and as_set is not None:
            if value in as_set:
                return
            # ComfyUI's mask editor saves "clipspace/x.png [input]" in workflows: an input image, annotated.
            if item.image_upload and value.endswith(INPUT_ANNOTATION) and value[:-len(INPUT_ANNOTATION)] in as_set:
                return
        elif type(value) in (int, float, str) and any(type(o) is type(value) and o == value for o in options):
            return
        listed = ", ".join(repr(o) for o in options[:MAX_LISTED_OPTIONS])
        if len(options) > MAX_LISTED_OPTIONS:
            listed += f", … ({len(options) - MAX_LISTED_OPTIONS} more, {len(options)} in all)"
        what = f" among the {item.choices.source}" if item.choices is not None else ""
        hint = ""
        if isinstance(value, str) and item.choices is not None and _escapes_folder(value):
            hint = " (a file name may not leave its folder)"
        self.report(
            node,
            "value_not_in_list",
            f"value {short_repr(value)} is not{what} in the list{hint}; "
            + (f"valid values: {listed}" if options else _empty_list_message(item)),
            name=item.name,
            expected=options[:MAX_LISTED_OPTIONS],
            received=short_repr(value),
            options=options if len(options) <= MAX_LISTED_OPTIONS else None,
            option_count=len(options),
        )

    def _current_options(self, item: InputSpec) -> tuple[list[Any], frozenset[Any] | None] | Exception:
        key = id(item)
        if key not in self._options:
            try:
                options = item.combo_options()
                strings = frozenset(options) if all(type(o) is str for o in options) else None
                self._options[key] = (options, strings)
            except Exception as error:  # a provider that fails is reported, not raised
                self._options[key] = error
        return self._options[key]

    def _check_pixels(self, node: WorkflowNode, spec: NodeSpec) -> None:
        """The size of what the node allocates, from the inputs its schema marks with `Allocates`."""
        axes = spec.allocated_inputs
        if "width" not in axes or "height" not in axes:
            return
        width, height = node.inputs.get(axes["width"]), node.inputs.get(axes["height"])
        if type(width) is not int or type(height) is not int:
            return  # linked: checked where the value is made
        batch = node.inputs.get(axes["batch"], 1) if "batch" in axes else 1
        batch = batch if type(batch) is int else 1
        pixels = width * height * batch
        if pixels > self.limits.max_pixels:
            names = " × ".join(axes[axis] for axis in ("width", "height", "batch") if axis in axes)
            self.report(
                node,
                "resource_limit_exceeded",
                f"{names} = {width}×{height}×{batch} = {pixels} pixels is above the limit of {self.limits.max_pixels}",
                name=axes["width"],
                expected=f"at most {self.limits.max_pixels} pixels",
                received=pixels,
            )


def _nesting(value: Any, cap: int) -> int:
    """Nesting depth of lists/dicts, computed without recursion and stopping once past `cap`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > cap:
            return deepest
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, list | dict))
    return deepest


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _escapes_folder(name: str) -> bool:
    lowered = name.lower()
    return (
        name.startswith(("/", "\\"))
        or ".." in name
        or "%2e" in lowered
        or "%2f" in lowered
        or (len(name) > 1 and name[1] == ":")
    )


def _describe(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "a list", dict: "an object"}
    return f"{kinds.get(type(value), type(value).__name__)} {short_repr(value)}" if value is not None else "null"


def _grid_number(value: float, grid: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return format_number(value)
    decimals = max(0, -math.floor(math.log10(abs(grid)))) if grid else 6
    return f"{value:.{decimals}f}"


def _empty_list_message(item: InputSpec) -> str:
    """'the list is empty', plus the choice's own advice on filling it (first run: where checkpoints go)."""
    if item.choices is not None and item.choices.empty_hint is not None:
        return f"the list is empty. {item.choices.empty_hint()}"
    return "the list is empty"
