"""Checks of Comfy API v2 responses against the published contract: the pydantic models comfy-sdk generates
from the Comfy API v2 OpenAPI document (comfy_low.models), plus the no-leak rule for error bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from comfy_low import models
from comfy_sdk.jobs import JobSummary

from tests.api.server_harness import Reply

SSE_MODELS: dict[str, Any] = {
    "status": models.StatusEvent, "progress": models.Progress, "preview": models.PreviewEvent,
    "output": models.Output, "log": models.LogEvent,
}


def job(reply: Reply, status: int = 200) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body[:500])
    body: dict[str, Any] = reply.json()
    models.Job.model_validate(body)
    return body


def asset(reply: Reply, status: int = 200) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body[:500])
    body: dict[str, Any] = reply.json()
    models.Asset.model_validate(body)
    return body


def job_list(reply: Reply) -> list[dict[str, Any]]:
    assert reply.status == 200, reply.body[:500]
    items: list[dict[str, Any]] = reply.json()["jobs"]
    for item in items:
        JobSummary._from_item(item)
    return items


def error(reply: Reply, status: int, code: str, base: Path | None = None) -> dict[str, Any]:
    """The v2 error envelope with this status and code, and no traceback or server path in it."""
    assert reply.status == status, (reply.status, reply.body[:500])
    body: dict[str, Any] = reply.json()
    models.ErrorEnvelope.model_validate(body)
    assert body["error"]["code"] == code, body
    text = reply.body.decode()
    assert "Traceback" not in text and 'File "' not in text, text
    if base is not None:
        assert str(base) not in text and str(base.resolve()) not in text, text
    return body


def sse_events(raw: bytes) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, event, data) of every SSE frame, each data validated against its event's schema."""
    frames = []
    for block in raw.decode().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
        if "event" not in fields:
            continue
        data = json.loads(fields["data"])
        SSE_MODELS[fields["event"]].model_validate(data)
        frames.append((fields.get("id", ""), fields["event"], data))
    return frames


SCHEMAS_FILE = Path(__file__).resolve().parents[2] / "api" / "v2" / "contract" / "comfy_api_v2_schemas.json"
SCHEMA_MODELS = (models.Job, models.Asset, models.ErrorEnvelope, models.JobWorkflowResponse, models.StatusEvent,
                 models.PreviewEvent, models.LogEvent, models.AssetReference)


def generated_schemas() -> dict[str, Any]:
    """The component schemas of the contract, as comfy-sdk's generated models state them."""
    from pydantic.json_schema import models_json_schema

    _, schema = models_json_schema([(model, "validation") for model in SCHEMA_MODELS],
                                   ref_template="#/components/schemas/V2{model}")
    return {
        "$comment": ("Comfy API v2 component schemas, generated from the pydantic models that comfy-sdk 0.5.0 "
                     "(MIT, Copyright (c) 2026 Comfy Org, see LICENSE-comfy-sdk) generates from the Comfy API v2 "
                     "OpenAPI document. Regenerate: python -m tests.api.v2_contract"),
        "schemas": {f"V2{name}": definition for name, definition in schema["$defs"].items()},
    }


if __name__ == "__main__":
    SCHEMAS_FILE.write_text(json.dumps(generated_schemas(), indent=1, sort_keys=True) + "\n")
