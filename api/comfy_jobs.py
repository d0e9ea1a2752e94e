"""ComfyUI's Jobs API shape (`GET /api/jobs?status=...`), which its frontend reads for the queue and history panels.

`GET /api/jobs` without a `status` filter keeps Latent Loom's own record (`{"jobs": [...]}` with statuses
pending | running | succeeded | failed | interrupted); with `status=` (as ComfyUI's frontend always sends) it
answers ComfyUI's `{"jobs": [...], "pagination": {...}}` in ComfyUI's vocabulary.
"""

from __future__ import annotations

from typing import Any

from api.store import Job

#: Our status → ComfyUI's.
COMFY_STATUS = {"pending": "pending", "running": "in_progress", "succeeded": "completed", "failed": "failed",
                "interrupted": "cancelled"}
PREVIEWABLE = frozenset({"images", "video", "audio", "3d", "text"})


def parse_statuses(raw: str) -> set[str] | None:
    """The ComfyUI statuses asked for, or None if one is unknown."""
    wanted = {part.strip() for part in raw.split(",") if part.strip()}
    return wanted if wanted <= set(COMFY_STATUS.values()) else None


def _preview(outputs: dict[str, Any]) -> tuple[int, dict[str, Any] | None, int]:
    """(outputs count, the preview output, previewable count), preferring saved images as ComfyUI does."""
    count = previewable = 0
    preview: dict[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            continue
        for media, items in node_outputs.items():
            if media == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    continue
                count += 1
                if media not in PREVIEWABLE:
                    continue
                previewable += 1
                enriched = {**item, "nodeId": node_id, "mediaType": media}
                if item.get("type") == "output" and preview is None:
                    preview = enriched
                elif fallback is None:
                    fallback = enriched
    return count, preview or fallback, previewable


def comfy_job(job: Job, *, detail: bool = False) -> dict[str, Any]:
    """One job in ComfyUI's Jobs API shape."""
    outputs = job.outputs or {}
    count, preview, previewable = _preview(outputs)
    start = end = None
    error = None
    for entry in job.messages or []:
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict):
            name, data = entry
            if name == "execution_start":
                start = data.get("timestamp")
            elif name in ("execution_success", "execution_error", "execution_interrupted"):
                end = data.get("timestamp")
                if name == "execution_error":
                    error = data
    workflow = (job.extra_data.get("extra_pnginfo") or {}).get("workflow") if job.extra_data else None
    record: dict[str, Any] = {
        "id": job.id,
        "status": COMFY_STATUS.get(job.status, job.status),
        "priority": job.queue_item()[0],
        "create_time": int(job.created * 1000),
        "execution_start_time": start,
        "execution_end_time": end,
        "execution_error": error,
        "outputs_count": count,
        "previewable_outputs_count": previewable,
        "preview_output": preview,
        "workflow_id": workflow.get("id") if isinstance(workflow, dict) else None,
    }
    if detail:
        record["outputs"] = outputs
        record["workflow"] = {"prompt": job.prompt, "extra_data": job.extra_data}
        if job.finished is not None:
            record["execution_status"] = job.history_entry()["status"]
    return record


def comfy_listing(jobs: list[Job], statuses: set[str], limit: int, offset: int) -> dict[str, Any]:
    """ComfyUI's `{"jobs", "pagination"}` for the jobs whose ComfyUI status is in `statuses`, newest first."""
    chosen = [job for job in jobs if COMFY_STATUS.get(job.status) in statuses]
    chosen.sort(key=lambda job: job.created, reverse=True)
    page = chosen[offset:offset + limit]
    return {"jobs": [comfy_job(job) for job in page],
            "pagination": {"offset": offset, "limit": limit, "total": len(chosen),
                           "has_more": offset + len(page) < len(chosen)}}
