"""OpenAPI fragments of the v2 routes (api/openapi.py builds the document from the router).

The component schemas are the contract's own, vendored in `contract/comfy_api_v2_schemas.json` (generated from
comfy-sdk's models of the Comfy API v2 OpenAPI document, MIT; `tests/api/test_v2_units.py` checks they still
match the pinned SDK), published as `V2Job`, `V2Asset`, `V2ErrorEnvelope`, ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from api.openapi import SCHEMAS, Fragment, binary, obj

CONTRACT = Path(__file__).resolve().parent / "contract" / "comfy_api_v2_schemas.json"
TAGS = ["Comfy API v2"]


def load_schemas() -> None:
    SCHEMAS.update(json.loads(CONTRACT.read_text())["schemas"])


def ref(name: str) -> Fragment:
    return {"$ref": f"#/components/schemas/V2{name}"}


def returns(description: str, name: str) -> Fragment:
    return obj(description, ref(name))


def error(description: str) -> Fragment:
    return obj(description, ref("ErrorEnvelope"))


def options(summary: str, description: str = "", **more: Any) -> dict[str, Any]:
    return {"description": description or summary, "tags": TAGS, **more}


JOB_LIST: Fragment = {"type": "object", "properties": {"jobs": {"type": "array", "items": {
    "type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "string"}, "status": ref("JobStatus"), "create_time": {"type": "string"},
        "update_time": {"type": "string"}, "queue_position": {"type": ["integer", "null"]},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "urls": ref("JobUrls")}}}}}
SUBMIT_BODY: Fragment = {"type": "object", "required": ["workflow"], "additionalProperties": False, "properties": {
    "workflow": {"type": "object", "description": "API-format graph; core/ASSET references allowed in inputs"},
    "extra_data": {"type": "object", "additionalProperties": False,
                   "properties": {"api_key_comfy_org": {"type": "string"}}},
    "metadata": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 256},
                 "maxProperties": 16, "description": "string labels stored with the job"}}}
HASH_BODY: Fragment = {"type": "object", "required": ["hash"], "properties": {
    "hash": {"type": "string", "description": "blake3:<64 hex>"}, "file_path": {"type": "string"}}}
PATH_BODY: Fragment = {"type": "object", "required": ["path"], "properties": {
    "path": {"type": "string", "description": "absolute, or relative to the base directory"},
    "content_type": {"type": "string"}}}
SSE: Fragment = binary("text/event-stream of `status`, `progress`, `preview`, `output`, `log` events (payloads: "
                       "V2StatusEvent, V2Progress, V2PreviewEvent, V2Output, V2LogEvent)", "text/event-stream")
CONTENT: Fragment = binary("the bytes (206 with Content-Range for a Range request)")
