"""Strict validation of a workflow before anything runs: nothing is coerced, clamped or dropped.

    issues = validate(workflow, REGISTRY)
    if issues:
        return web.json_response(comfy_error_response(issues), status=400)

Every issue names the node id, its type, the input, what was expected and what was received.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graph.modes import executable_view
from graph.registry import NodeRegistry, format_number, on_grid
from graph.sockets import types_compatible
from graph.spec import InputSpec, NodeSpec
from graph.workflow import Link, Workflow, WorkflowNode, short_repr

#: Combo options listed in an error before the list is shortened.
MAX_LISTED_OPTIONS = 20


@dataclass(frozen=True)
class Limits:
    """Size caps checked at validation, so oversized requests fail with a 400 instead of exhausting memory."""

    max_nodes: int = 10_000
    #: A cap on every text widget on top of its own `Text.max_length`.
    max_text_length: int = 1_000_000
    #: How deeply lists and objects may nest inside a constant input.
    max_nesting: int = 32
    #: width × height × batch_size of one node (EmptyLatentImage and friends); 2**27 ≈ 2048×2048×32.
    max_pixels: int = 2**27


@dataclass(frozen=True)
class ValidationIssue:
    """One reason a workflow is refused. `type` is ComfyUI's error code where one exists."""

    type: str
    message: str
    node_id: str | None = None
    class_type: str | None = None
    input_name: str | None = None
    expected: Any = None
    received: Any = None
    #: Output nodes whose results depend on this node (ComfyUI's `dependent_outputs`).
    dependent_outputs: tuple[str, ...] = ()
    #: More facts for clients: `cycle` (node ids), `linked_node`, `received_type`, `options`.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.type


class ValidationFailed(Exception):
    """Raised by callers that prefer an exception; carries the issues."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        super().__init__("\n".join(issue.message for issue in issues))
        self.issues = list(issues)


def validate(
    workflow: Workflow,
    registry: NodeRegistry,
    *,
    limits: Limits = Limits(),
    targets: Sequence[str] | None = None,
) -> list[ValidationIssue]:
    """Every problem that stops `workflow` from running; empty when it may run.

    With `targets` (ComfyUI's partial_execution_targets) only those nodes and their ancestors are checked.
    Muted and bypassed nodes are resolved first, as the frontend does.
    """
    return analyse(workflow, registry, limits=limits, targets=targets).issues


@dataclass
class Analysis:
    """What validation learns on the way, reused by the executor: the runnable view and its topological order."""

    view: Workflow
    issues: list[ValidationIssue]
    #: The checked nodes in topological order (networkx); empty when there are issues.
    order: list[str]


def analyse(
    workflow: Workflow,
    registry: NodeRegistry,
    *,
    limits: Limits = Limits(),
    targets: Sequence[str] | None = None,
) -> Analysis:
    """Validate `workflow` and order its nodes topologically (the graph is built once for both)."""
    if len(workflow.nodes) > limits.max_nodes:
        issue = ValidationIssue(
            "too_many_nodes",
            f"the workflow has {len(workflow.nodes)} nodes; at most {limits.max_nodes} are allowed",
            expected=f"at most {limits.max_nodes} nodes",
            received=len(workflow.nodes),
        )
        return Analysis(workflow, [issue], [])
    view = executable_view(workflow, registry)
    checker = _Checker(view, registry, limits)
    scope, issues = _scope(view, registry, targets)
    for node_id in scope:
        checker.check_node(view.nodes[node_id])
    issues.extend(checker.issues)
    graph = dependency_graph(view, scope)
    try:
        order = list(nx.topological_sort(graph))
    except nx.NetworkXUnfeasible:
        order = []
        issues.extend(_cycles(view, graph))
    if issues:
        return Analysis(view, _with_dependent_outputs(view, registry, issues), [])
    return Analysis(view, issues, order)


def check_value(
    spec: NodeSpec,
    name: str,
    value: Any,
    *,
    limits: Limits = Limits(),
    node_id: str = "?",
) -> list[ValidationIssue]:
    """The issues of giving constant `value` to input `name` of `spec` (for editors, tests and linked values)."""
    item = spec.inputs_by_name.get(name)
    if item is None:
        raise KeyError(f"{spec.node_id} has no input {name!r}")
    checker = _Checker(Workflow(), NodeRegistry(), limits)
    node = WorkflowNode(node_id, spec.node_id, {name: value})
    if item.is_socket:
        checker.report(node, "invalid_input_type", f"expected a link from a {item.type_name} output", name=name)
    else:
        checker._check_constant(node, item, value)
    return checker.issues


def _scope(
    view: Workflow, registry: NodeRegistry, targets: Sequence[str] | None
) -> tuple[list[str], list[ValidationIssue]]:
    """The node ids to check (all, or the targets' ancestors) and the no-output / unknown-target issues."""
    issues: list[ValidationIssue] = []
    if targets is None:
        outputs = [node.node_id for node in view.nodes.values() if _is_output(registry, node)]
        if not outputs and not any(registry.get(node.class_type) is None for node in view.nodes.values()):
            issues.append(
                ValidationIssue(
                    "prompt_no_outputs",
                    "the workflow has no output node (SaveImage, PreviewImage, ...): nothing would run",
                    expected="at least one output node",
                    received=f"{len(view.nodes)} nodes, none an output",
                )
            )
        return list(view.nodes), issues
    if not targets:
        issues.append(ValidationIssue("prompt_no_outputs", "the list of nodes to run is empty", expected="a node id"))
    known = [target for target in targets if target in view.nodes]
    for target in targets:
        if target not in view.nodes:
            issues.append(
                ValidationIssue(
                    "invalid_target",
                    f"node {target!r} was asked to run but is not in the workflow (or is muted)",
                    node_id=target,
                    expected="a node id of the workflow",
                    received=target,
                )
            )
    return ancestors_and_self(view, known), issues


def _is_output(registry: NodeRegistry, node: WorkflowNode) -> bool:
    spec = registry.get(node.class_type)
    return spec is not None and spec.output_node


def ancestors_and_self(workflow: Workflow, roots: Iterable[str]) -> list[str]:
    """`roots` and every node they depend on through links, in workflow order (missing sources skipped)."""
    seen: set[str] = set()
    stack = [root for root in roots if root in workflow.nodes]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        for value in workflow.nodes[node_id].inputs.values():
            if isinstance(value, Link) and value.node_id in workflow.nodes and value.node_id not in seen:
                stack.append(value.node_id)
    return [node_id for node_id in workflow.nodes if node_id in seen]


class _Checker:
    """Checks nodes one at a time, collecting issues; providers of dynamic choices are called once per input."""

    def __init__(self, workflow: Workflow, registry: NodeRegistry, limits: Limits) -> None:
        self.workflow = workflow
        self.registry = registry
        self.limits = limits
        self.issues: list[ValidationIssue] = []
        self._options: dict[int, tuple[list[Any], frozenset[Any] | None] | Exception] = {}

    def report(self, node: WorkflowNode, code: str, problem: str, *, name: str | None = None, **facts: Any) -> None:
        where = f"node {node.node_id} ({node.class_type})" + (f" input {name!r}" if name else "")
        expected = facts.pop("expected", None)
        received = facts.pop("received", None)
        self.issues.append(
            ValidationIssue(
                code, f"{where}: {problem}", node.node_id, node.class_type, name, expected, received, extra=facts
            )
        )

    def check_node(self, node: WorkflowNode) -> None:
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
                self._check_constant(node, item, value)
        for item in spec.inputs:
            if item.section == "required" and item.name not in node.inputs:
                kind = f"a link from a {item.type_name} output" if item.is_socket else f"a value of type {item.type_name}"
                self.report(
                    node,
                    "required_input_missing",
                    f"required input is missing: expected {kind}",
                    name=item.name,
                    expected=kind,
                    received=None,
                )
        self._check_pixels(node)

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

    def _check_constant(self, node: WorkflowNode, item: InputSpec, value: Any) -> None:
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
            + (f"valid values: {listed}" if options else "the list is empty"),
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

    def _check_pixels(self, node: WorkflowNode) -> None:
        width, height = node.inputs.get("width"), node.inputs.get("height")
        if type(width) is not int or type(height) is not int:
            return
        batch = node.inputs.get("batch_size", 1)
        batch = batch if type(batch) is int else 1
        if width * height * batch > self.limits.max_pixels:
            self.report(
                node,
                "resource_limit_exceeded",
                f"width × height × batch_size = {width}×{height}×{batch} = {width * height * batch} pixels "
                f"is above the limit of {self.limits.max_pixels}",
                name="width",
                expected=f"at most {self.limits.max_pixels} pixels",
                received=width * height * batch,
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


def _cycles(view: Workflow, graph: nx.DiGraph) -> list[ValidationIssue]:
    """One issue per cycle of `graph`, listing the nodes on it in order."""
    issues = []
    for component in nx.strongly_connected_components(graph):
        first = next(iter(component))
        if len(component) == 1 and not graph.has_edge(first, first):
            continue
        edges = nx.find_cycle(graph.subgraph(component), source=min(component, key=_id_order))
        cycle = [edge[0] for edge in edges]
        node = view.nodes[cycle[0]]
        path = " → ".join([*cycle, cycle[0]])
        issues.append(
            ValidationIssue(
                "dependency_cycle",
                f"node {cycle[0]} ({node.class_type}): nodes {path} form a cycle; a node cannot depend on itself",
                cycle[0],
                node.class_type,
                None,
                "an acyclic graph",
                f"a cycle of {len(cycle)} nodes",
                extra={"cycle": cycle},
            )
        )
    return issues


def _id_order(node_id: str) -> tuple[int, int | str]:
    return (0, int(node_id)) if node_id.isdigit() else (1, node_id)


def dependency_graph(workflow: Workflow, scope: Iterable[str]) -> nx.DiGraph:
    """A networkx graph of `scope` with an edge source → consumer for every link between nodes of the scope."""
    graph = nx.DiGraph()
    nodes = workflow.nodes
    members = set(scope)
    graph.add_nodes_from(node_id for node_id in nodes if node_id in members)
    graph.add_edges_from(
        (value.node_id, node_id)
        for node_id in graph.nodes
        for value in nodes[node_id].inputs.values()
        if isinstance(value, Link) and value.node_id in members
    )
    return graph


def _with_dependent_outputs(
    view: Workflow, registry: NodeRegistry, issues: list[ValidationIssue]
) -> list[ValidationIssue]:
    involved = {issue.node_id for issue in issues if issue.node_id is not None}
    dependents: dict[str, list[str]] = {node_id: [] for node_id in involved}
    for node in view.nodes.values():
        if _is_output(registry, node):
            for ancestor in ancestors_and_self(view, [node.node_id]):
                if ancestor in dependents:
                    dependents[ancestor].append(node.node_id)
    return [
        issue
        if issue.node_id is None or issue.node_id not in dependents
        else ValidationIssue(
            issue.type,
            issue.message,
            issue.node_id,
            issue.class_type,
            issue.input_name,
            issue.expected,
            issue.received,
            tuple(dependents[issue.node_id]),
            issue.extra,
        )
        for issue in issues
    ]


# ---------------------------------------------------------------------------------------------------- ComfyUI shape

_COMFY_MESSAGES = {
    "required_input_missing": "Required input is missing",
    "bad_linked_input": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
    "return_type_mismatch": "Return type mismatch between linked nodes",
    "invalid_input_type": "Failed to convert an input value to the expected type",
    "value_smaller_than_min": "Value smaller than min",
    "value_bigger_than_max": "Value bigger than max",
    "value_not_in_list": "Value not in list",
    "value_off_step_grid": "Value not on the step grid",
    "value_not_finite": "Value is not a finite number",
    "value_too_long": "Value too long",
    "value_too_deep": "Value nested too deeply",
    "invalid_text": "Invalid text",
    "unknown_input": "Unknown input",
    "dependency_cycle": "Dependency cycle detected",
    "exception_during_validation": "Exception when validating node",
    "resource_limit_exceeded": "Size limit exceeded",
    "unknown_node_type": "Node type does not exist",
}


def comfy_error_response(issues: Sequence[ValidationIssue]) -> dict[str, Any]:
    """ComfyUI's 400 body for `POST /prompt`: `{"error": {...}, "node_errors": {id: {...}}}`."""
    node_errors: dict[str, dict[str, Any]] = {}
    for issue in issues:
        if issue.node_id is None or issue.type in ("prompt_no_outputs", "too_many_nodes"):
            continue
        entry = node_errors.setdefault(
            issue.node_id,
            {"errors": [], "dependent_outputs": list(issue.dependent_outputs), "class_type": issue.class_type},
        )
        extra_info: dict[str, Any] = {
            "input_name": issue.input_name,
            "expected": _jsonable(issue.expected),
            "received_value": _jsonable(issue.received),
        }
        extra_info.update((key, _jsonable(value)) for key, value in issue.extra.items())
        if "input_config" not in extra_info:
            extra_info["input_config"] = None
        entry["errors"].append(
            {
                "type": issue.type,
                "message": _COMFY_MESSAGES.get(issue.type, issue.type),
                "details": issue.message,
                "extra_info": extra_info,
            }
        )
    return {"error": _top_error(issues), "node_errors": node_errors}


def _top_error(issues: Sequence[ValidationIssue]) -> dict[str, Any]:
    for issue in issues:
        if issue.type == "unknown_node_type":
            return {
                "type": "invalid_prompt",
                "message": f"Cannot execute because node {issue.class_type} does not exist.",
                "details": f"Node ID '#{issue.node_id}'",
                "extra_info": {},
            }
        if issue.type in ("too_many_nodes", "invalid_target"):
            return {"type": "invalid_prompt", "message": issue.message, "details": "", "extra_info": {}}
    for issue in issues:
        if issue.type == "prompt_no_outputs":
            return {
                "type": "prompt_no_outputs",
                "message": "Prompt has no outputs",
                "details": issue.message,
                "extra_info": {},
            }
    details = "\n".join(f"{_COMFY_MESSAGES.get(i.type, i.type)}: {i.message}" for i in issues)
    return {
        "type": "prompt_outputs_failed_validation",
        "message": "Prompt outputs failed validation",
        "details": details,
        "extra_info": {},
    }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return short_repr(value)
