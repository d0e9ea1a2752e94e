"""The conversion route's refusal: a workflow using node types this server lacks is never converted.

Converting it would drop those nodes' widget values silently (their schema is unknown), so `POST
/api/workflow/convert` answers 400 with the missing types listed, each node that uses one named in `node_errors`.
"""

from __future__ import annotations

from typing import Any

from graph.comfy_errors import error_body
from graph.registry import NodeRegistry
from graph.workflow import Workflow


def missing_node_types(workflow: Workflow, registry: NodeRegistry) -> dict[str, list[str]]:
    """Missing class type → the ids of the nodes that use it (sorted), for every node the registry lacks."""
    missing: dict[str, list[str]] = {}
    for node_id, node in workflow.nodes.items():
        if registry.get(node.class_type) is None:
            missing.setdefault(node.class_type, []).append(node_id)
    return {kind: sorted(ids, key=lambda i: (len(i), i)) for kind, ids in sorted(missing.items())}


def missing_types_body(missing: dict[str, list[str]]) -> dict[str, Any]:
    """ComfyUI's 400 shape, plus `missing_node_types` (the list an editor shows)."""
    names = list(missing)
    node_errors = {
        node_id: {
            "errors": [error_body(
                "unknown_node_type", "Node type does not exist",
                f"node {node_id} is a {kind}, which this server does not have (a custom node that is not installed?)",
                extra_info={"class_type": kind},
            )["error"]],
            "dependent_outputs": [],
            "class_type": kind,
        }
        for kind, ids in missing.items() for node_id in ids
    }  # fmt: skip
    body = error_body(
        "missing_node_types",
        f"this workflow uses node types this server does not have: {', '.join(names)}",
        "install the custom nodes that provide them, or remove those nodes",
        node_errors=node_errors,
    )
    return {**body, "missing_node_types": names}
