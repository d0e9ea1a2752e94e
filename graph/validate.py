"""Strict validation of a workflow before anything runs: nothing is coerced, clamped or dropped.

    issues = validate(workflow, REGISTRY)
    if issues:
        return web.json_response(comfy_error_response(issues), status=400)

Every issue names the node id, its type, the input, what was expected and what was received.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from graph.checks import NodeChecker
from graph.comfy_errors import comfy_error_response
from graph.issues import DEFAULT_LIMITS, Limits, ValidationIssue
from graph.modes import executable_view
from graph.registry import NodeRegistry
from graph.spec import NodeSpec
from graph.workflow import Link, Workflow, WorkflowNode

__all__ = [
    "Analysis",
    "Limits",
    "ValidationIssue",
    "analyse",
    "ancestors_and_self",
    "check_value",
    "comfy_error_response",
    "dependency_graph",
    "validate",
]


def validate(
    workflow: Workflow,
    registry: NodeRegistry,
    *,
    limits: Limits = DEFAULT_LIMITS,
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
    limits: Limits = DEFAULT_LIMITS,
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
    checker = NodeChecker(view, registry, limits)
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
    limits: Limits = DEFAULT_LIMITS,
    node_id: str = "?",
) -> list[ValidationIssue]:
    """The issues of giving constant `value` to input `name` of `spec` (for editors, tests and linked values)."""
    item = spec.inputs_by_name.get(name)
    if item is None:
        raise KeyError(f"{spec.node_id} has no input {name!r}")
    checker = NodeChecker(Workflow(), NodeRegistry(), limits)
    node = WorkflowNode(node_id, spec.node_id, {name: value})
    if item.is_socket:
        checker.report(node, "invalid_input_type", f"expected a link from a {item.type_name} output", name=name)
    else:
        checker.check_constant(node, item, value)
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
    ordered = [node_id for node_id in nodes if node_id in members]  # workflow order keeps the sort deterministic
    edges = [
        (value.node_id, node_id)
        for node_id in ordered
        for value in nodes[node_id].inputs.values()
        if type(value) is Link and value.node_id in members
    ]
    linked = {node_id for edge in edges for node_id in edge}
    graph.add_nodes_from(node_id for node_id in ordered if node_id not in linked)
    graph.add_edges_from(edges)
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
