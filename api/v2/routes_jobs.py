"""v2 job routes: health, submit, list, read, workflow, cancel."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from aiohttp import web

from api.engine import PromptRejected
from api.jsonbody import json_type_name, read_json_object
from api.openapi import describe, obj
from api.store import IdempotencyKeyUsed
from api.v2 import docs
from api.v2.errors import V2Error, envelope, invalid_request
from api.v2.records import job_labels
from api.v2.service import service
from api.v2.views import STATUSES

routes = web.RouteTableDef()
MAX_IDEMPOTENCY_KEY = 255
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 100
MAX_LABELS = 16
LABEL_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
#: How many of the newest jobs a status-filtered list looks through.
MAX_FILTER_SCAN = 2000
SUBMIT_FIELDS = frozenset({"workflow", "extra_data", "metadata"})
_UI_KEYS = ("nodes", "links")


@routes.get("/api/v2/health")
@describe("Liveness probe (no token needed)", **docs.options("Liveness probe", responses={200: obj("healthy")}))
@envelope
async def health(request: web.Request) -> web.Response:
    """Cheap liveness probe: answers from memory, touches neither the engine nor the database."""
    return web.json_response({"status": "healthy"})


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise invalid_request(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    return key


def _check_body(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - SUBMIT_FIELDS)
    if unknown:
        raise invalid_request(f"unknown field(s) {', '.join(map(repr, unknown))}; a job body has 'workflow' "
                              "and optionally 'extra_data' and 'metadata'")
    workflow = body.get("workflow")
    if not isinstance(workflow, dict):
        raise V2Error(422, "invalid_workflow", f"'workflow' must be an API-format graph object, got "
                      f"{json_type_name(workflow) if 'workflow' in body else 'nothing'}")
    if all(key in workflow for key in _UI_KEYS):
        raise V2Error(422, "workflow_format_ui", "this is a UI-export workflow (nodes/links); export it in API "
                      "format (the editor's 'Export (API)') and submit that")
    not_nodes = [str(key) for key, node in workflow.items()
                 if not isinstance(node, dict) or not isinstance(node.get("class_type"), str)]
    if not workflow or not_nodes:
        shown = ", ".join(repr(key[:40]) for key in not_nodes[:5])
        raise V2Error(422, "invalid_workflow", "an API-format workflow maps node ids to "
                      "{'class_type', 'inputs'} objects" + (f"; not nodes: {shown}" if shown else "; it is empty"))
    extra = body.get("extra_data")
    if extra is not None:
        if not isinstance(extra, dict) or set(extra) - {"api_key_comfy_org"}:
            raise invalid_request("'extra_data' accepts only the 'api_key_comfy_org' field")
        if not isinstance(extra.get("api_key_comfy_org", ""), str):
            raise invalid_request("'extra_data.api_key_comfy_org' must be a string")
    return workflow


def check_labels(raw: Any) -> dict[str, str]:
    """`metadata`: at most 16 string pairs; keys of letters, digits and `_.:-` (1-64), values up to 256 chars."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise V2Error(422, "metadata_invalid", f"'metadata' must be an object of string labels, got "
                      f"{json_type_name(raw)}")
    if len(raw) > MAX_LABELS:
        raise V2Error(422, "metadata_invalid", f"'metadata' has {len(raw)} pairs; at most {MAX_LABELS} are allowed")
    for key, value in raw.items():
        if not LABEL_KEY.fullmatch(key):
            raise V2Error(422, "metadata_invalid", f"metadata key {key[:70]!r} must be 1-64 letters, digits or _.:-")
        if not isinstance(value, str) or len(value) > 256 or not value.isprintable():
            raise V2Error(422, "metadata_invalid", f"metadata value of {key!r} must be printable text of at most "
                          "256 characters")
    return dict(raw)


def _invalid_workflow(rejected: PromptRejected) -> V2Error:
    body = rejected.body
    node_errors = body.get("node_errors") or {}
    messages = []
    for node_id, entry in node_errors.items():
        for error in entry.get("errors", []):
            reason = error.get("details") or error.get("message")
            messages.append(f"Node {node_id} ({entry.get('class_type')}): {reason}")
    message = "; ".join(messages[:5]) or str(body.get("error", {}).get("message", "invalid workflow"))
    return V2Error(422, "invalid_workflow", message, {"node_errors": node_errors})


@routes.post("/api/v2/jobs")
@describe("Submit a workflow", **docs.options(
    "Queue an API-format workflow. `Idempotency-Key` header: single-use; a reused key is refused with 422 "
    "idempotency_key_reuse (no second job); a refused request uses no key.",
    body=docs.SUBMIT_BODY, responses={201: docs.returns("the queued job", "Job"),
                                      400: docs.error("invalid_request"),
                                      422: docs.error("invalid_workflow (details.node_errors), workflow_format_ui, "
                                                      "missing_asset, idempotency_key_reuse, metadata_invalid")}))
@envelope
async def submit(request: web.Request) -> web.Response:
    v2 = service(request)
    state = v2.state
    key = _idempotency_key(request)
    body = await read_json_object(request, state.config.max_json_bytes, allow_empty=False)
    workflow = _check_body(body)
    labels = check_labels(body.get("metadata"))
    if key is not None and await asyncio.to_thread(_key_used, v2.state.store.reader, key):
        raise _reused()

    def validate_and_queue() -> Any:
        resolved, missing = v2.assets.resolve_workflow(workflow)
        if missing:
            raise V2Error(422, "missing_asset", "; ".join(item.sentence() for item in missing),
                          {"missing_assets": [item.details() for item in missing]})
        try:
            prompt = state.engine.prepare(resolved, None)
        except PromptRejected as rejected:
            raise _invalid_workflow(rejected) from None
        return state.store.add(str(uuid.uuid4()), None, False, prompt, {}, [], None, idempotency_key=key,
                               labels=labels)

    try:
        job = await asyncio.to_thread(validate_and_queue)
    except IdempotencyKeyUsed:
        raise _reused() from None
    state.queue_changed()
    return web.json_response(await v2.job_body(job, request), status=201)


def _key_used(reader: Any, key: str) -> bool:
    return reader().execute("SELECT 1 FROM idempotency_keys WHERE key = ?", (key,)).fetchone() is not None


def _reused() -> V2Error:
    return V2Error(422, "idempotency_key_reuse", "this Idempotency-Key was already used for a job; keys are "
                   "single-use: read or list your jobs instead of resubmitting")


@routes.get("/api/v2/jobs")
@describe("List jobs", **docs.options(
    "Newest first; one page.", query={"status": "comma-separated statuses", "limit": "1-100 (default 50)",
                                      "metadata[KEY]": "only jobs labelled KEY=value (repeatable)"},
    responses={200: obj("jobs", docs.JOB_LIST), 400: docs.error("invalid_request")}))
@envelope
async def list_jobs(request: web.Request) -> web.Response:
    """Newest first, optionally only some statuses (`status=a,b`), at most `limit` (1-100, default 50)."""
    v2 = service(request)
    raw_limit = request.query.get("limit", str(DEFAULT_LIST_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIST_LIMIT:
        raise invalid_request(f"'limit' must be a whole number 1-{MAX_LIST_LIMIT}, got {raw_limit[:20]!r}")
    limit = int(raw_limit)
    wanted = {part.strip() for part in request.query.get("status", "").split(",") if part.strip()}
    if wanted - set(STATUSES):
        bad = sorted(wanted - set(STATUSES))[0][:20]
        raise invalid_request(f"unknown status {bad!r}; one of {', '.join(STATUSES)}")
    pairs = _label_filter(request)
    if request.query.get("cursor"):
        raise V2Error(422, "invalid_cursor", "this server returns one page; it issued no cursor")

    canceling = frozenset(v2.live.canceling)

    def read() -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        filtered = bool(wanted or pairs)
        jobs = v2.state.store.recent(MAX_FILTER_SCAN if filtered else limit)
        labels = job_labels(v2.state.store, [job.id for job in jobs])
        for job in jobs:
            item = v2.views.summary(job, job.id in canceling, labels.get(job.id, {}))
            if (not wanted or item["status"] in wanted) and pairs.items() <= item["metadata"].items():
                items.append(item)
            if len(items) >= limit:
                break
        # The scan of a filtered list stops at MAX_FILTER_SCAN jobs: say so rather than imply there are no more.
        return {"jobs": items, "truncated": filtered and len(items) < limit and len(jobs) == MAX_FILTER_SCAN}

    return web.json_response(await asyncio.to_thread(read))


def _label_filter(request: web.Request) -> dict[str, str]:
    """`metadata[key]=value` query pairs: only jobs carrying every pair are listed."""
    pairs: dict[str, str] = {}
    for name, value in request.query.items():
        if not name.startswith("metadata["):
            continue
        key = name[len("metadata["):-1] if name.endswith("]") else ""
        if not LABEL_KEY.fullmatch(key) or len(pairs) >= MAX_LABELS:
            raise V2Error(400, "invalid_metadata_filter", f"bad metadata filter {name[:80]!r}: use metadata[key]=value "
                          f"with keys of 1-64 letters, digits or _.:- (at most {MAX_LABELS})")
        pairs[key] = value
    return pairs


@routes.get("/api/v2/jobs/{job_id}")
@describe("Read a job", **docs.options(
    "The job record: status, queue position, progress, outputs (assets), error, metrics, urls.",
    responses={200: docs.returns("the job", "Job"), 404: docs.error("not_found")}))
@envelope
async def get_job(request: web.Request) -> web.Response:
    v2 = service(request)
    return web.json_response(await v2.job_body(v2.job(request.match_info["job_id"]), request))


@routes.get("/api/v2/jobs/{job_id}/workflow")
@describe("The executed workflow", **docs.options(
    "The API graph that ran (format `api`).",
    responses={200: docs.returns("workflow", "JobWorkflowResponse"), 404: docs.error("not_found")}))
@envelope
async def get_workflow(request: web.Request) -> web.Response:
    """The executed API-format graph (core/ASSET references already resolved to file names)."""
    job = service(request).job(request.match_info["job_id"])
    return web.json_response({"workflow": job.prompt, "format": "api"})


@routes.post("/api/v2/jobs/{job_id}/cancel")
@describe("Cancel a job", **docs.options(
    "Idempotent: queued → canceled, running → canceling → canceled, ended → unchanged.",
    responses={200: docs.returns("the job", "Job"), 404: docs.error("not_found")}))
@envelope
async def cancel(request: web.Request) -> web.Response:
    """Idempotent: queued → canceled at once; running → canceling (then canceled); ended → unchanged."""
    v2 = service(request)
    state = v2.state
    job = v2.job(request.match_info["job_id"])
    if job.status == "pending":
        if await asyncio.to_thread(state.store.cancel_pending, job.id):
            state.queue_changed()
            state.job_finished(job.id)
        job = v2.job(job.id)  # the worker may have taken it meanwhile
    if job.status == "running" and state.worker is not None and state.worker.interrupt(job.id):
        v2.live.canceling.add(job.id)
        v2.live.message("status", {})
    return web.json_response(await v2.job_body(v2.job(job.id), request))
