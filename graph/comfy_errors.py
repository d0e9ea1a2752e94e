"""Validation issues in ComfyUI's 400 shape for `POST /prompt` (comfyui-compat.md §1.2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from graph.issues import ValidationIssue
from graph.workflow import WorkflowFormatError, short_repr

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


def error_body(
    error_type: str,
    message: str,
    details: str = "",
    *,
    extra_info: dict[str, Any] | None = None,
    node_errors: dict[str, Any] | None = None,
    code: bool = False,
) -> dict[str, Any]:
    """ComfyUI's error shape, the one every refusal uses (HTTP bodies of every route, the CLI's messages):
    `{"error": {"type", "message", "details", "extra_info"}, "node_errors": {node id: {...}}}`.

    `code`: also name the type as `error.code`, the Comfy API v2 envelope's field, for refusals any route may
    give (guards, bad bodies); /prompt's validation body stays exactly ComfyUI's.
    """
    error: dict[str, Any] = {"type": error_type, "message": message, "details": details, "extra_info": extra_info or {}}
    if code:
        error["code"] = error_type
        if not details:
            del error["details"]  # the v2 envelope's `details` is an object or absent; "" would not validate
    return {"error": error, "node_errors": node_errors or {}}


def format_error_response(error: WorkflowFormatError) -> dict[str, Any]:
    """The 400 body for a workflow that could not even be read (blamed on a node when the reader knows which)."""
    node_errors: dict[str, Any] = {}
    if error.node_id is not None:
        extra = {"input_name": error.input_name} if error.input_name else {}
        node_errors[error.node_id] = {
            "errors": [error_body("invalid_prompt", str(error), str(error), extra_info=extra)["error"]],
            "dependent_outputs": [],
            "class_type": None,
        }
    return error_body("invalid_prompt", str(error), node_errors=node_errors)


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
        message = _COMFY_MESSAGES.get(issue.type, issue.type)
        entry["errors"].append(error_body(issue.type, message, issue.message, extra_info=extra_info)["error"])
    top = _top_error(issues)
    return error_body(top["type"], top["message"], top["details"], node_errors=node_errors)


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
