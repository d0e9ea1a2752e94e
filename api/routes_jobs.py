"""Routes that submit, list, wait on and stop jobs: /prompt, /queue, /history, /interrupt, /free, /api/jobs."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

from aiohttp import web

from api import comfy_jobs, oplog
from api.engine import PromptRejected
from api.jsonbody import BadRequest, json_error, json_type_name, non_finite_path, read_json_object
from api.state import ServerState, state_of
from api.store import DuplicateJobId, Job

routes = web.RouteTableDef()
#: Priorities beyond this are refused: they are either mistakes or attempts to starve the queue.
MAX_PRIORITY = 1e15
MAX_PROMPT_ID_LENGTH = 128
DEFAULT_WAIT_SECONDS = 300.0
MAX_WAIT_SECONDS = 3600.0
MAX_HISTORY_PAGE = 100_000


def _bad(error_type: str, message: str) -> BadRequest:
    return BadRequest(400, error_type, message)


def parse_priority(value: Any) -> float | None:
    """`number` from a /prompt body: a finite number within ±1e15, or absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad("invalid_number", f"'number' must be a number, got {json_type_name(value)}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_PRIORITY:
        raise _bad("invalid_number", f"'number' must be finite and within ±{MAX_PRIORITY:g}, got {value!r}")
    return number


def _optional_str(body: dict[str, Any], key: str, limit: int = MAX_PROMPT_ID_LENGTH) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise _bad("invalid_body", f"'{key}' must be a non-empty printable string of at most {limit} characters")
    return value


def _string_list(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _bad("invalid_body", f"'{key}' must be a list of strings, got {json_type_name(value)}")
    return list(value)


async def submit(state: ServerState, body: dict[str, Any]) -> Job:
    """Validate a /prompt body and queue it; raises BadRequest/PromptRejected with ComfyUI's 400 shapes.

    Every refusal is one line in the server log (api/oplog.py), with the reason the client was given.
    """
    try:
        return await _submit(state, body)
    except PromptRejected as rejected:
        oplog.refused_line(_client_of(body), oplog.rejection_reason(rejected.body))
        raise
    except BadRequest as error:
        oplog.refused_line(_client_of(body), str(error))
        raise


def _client_of(body: dict[str, Any]) -> str | None:
    client = body.get("client_id")
    return client[:MAX_PROMPT_ID_LENGTH] if isinstance(client, str) else None


async def _submit(state: ServerState, body: dict[str, Any]) -> Job:
    if "prompt" not in body:
        raise BadRequest(400, "no_prompt", "No prompt provided", "the body needs a 'prompt' object")
    number = parse_priority(body.get("number"))
    front = body.get("front", False)
    if not isinstance(front, bool):
        raise _bad("invalid_body", f"'front' must be true or false, got {json_type_name(front)}")
    prompt_id = _optional_str(body, "prompt_id") or str(uuid.uuid4())
    client_id = _optional_str(body, "client_id")
    targets = _string_list(body, "partial_execution_targets")
    extra_data = body.get("extra_data", {})
    if not isinstance(extra_data, dict):
        raise _bad("invalid_body", f"'extra_data' must be an object, got {json_type_name(extra_data)}")
    extra_data = {**extra_data, "client_id": client_id} if client_id else dict(extra_data)
    where = non_finite_path(extra_data)
    if where is not None:
        raise _bad("invalid_body", f"'extra_data' holds a non-finite number (NaN or Infinity) at {where}")

    def validate_and_queue() -> Job:
        # One trip to a worker thread for both steps: under load, every hop waits for a free pool thread.
        api_prompt = state.engine.prepare(body["prompt"], targets, prompt_id)
        try:
            return state.store.add(prompt_id, number, front, api_prompt, extra_data, targets or [], client_id)
        except BaseException:
            state.engine.forget(prompt_id)
            raise

    try:
        job = await asyncio.to_thread(validate_and_queue)
    except DuplicateJobId:
        raise BadRequest(409, "duplicate_prompt_id", f"prompt_id {prompt_id!r} is already in use") from None
    state.queue_changed()
    return job


def _submitted(job: Job) -> dict[str, Any]:
    return {"prompt_id": job.id, "number": job.queue_item()[0], "node_errors": {}}


@routes.post("/prompt")
async def post_prompt(request: web.Request) -> web.StreamResponse:
    """Queue a workflow; with `?wait=true`, answer when it ends (or after `timeout` seconds, with 202)."""
    state = state_of(request)
    try:
        # NaN / Infinity are decoded so that validation refuses them where they are (node and input named).
        body = await read_json_object(request, state.config.max_json_bytes, allow_empty=False, non_finite=True)
    except BadRequest as error:
        oplog.refused_line(None, str(error))
        raise
    wait = request.query.get("wait", "").lower() in ("1", "true", "yes")
    timeout = _query_float(request, "timeout", DEFAULT_WAIT_SECONDS, 0.0, MAX_WAIT_SECONDS)
    future: asyncio.Future[None] | None = None
    try:
        job = await submit(state, body)
    except PromptRejected as rejected:
        return web.json_response(rejected.body, status=400)
    if not wait:
        return web.json_response(_submitted(job))
    future = asyncio.get_running_loop().create_future()
    state.waiters.setdefault(job.id, []).append(future)
    current = state.store.get(job.id)
    if current is not None and current.finished is not None:
        state.job_finished(job.id)
    try:
        await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        waiting = state.waiters.get(job.id, [])
        if future in waiting:
            waiting.remove(future)
        latest = state.store.get(job.id)
        return web.json_response({**_submitted(job), **(job_status(state, latest) if latest else {}),
                                  "timed_out": True}, status=202)
    latest = state.store.get(job.id)
    return web.json_response({**_submitted(job), **(job_status(state, latest) if latest else {"status": "unknown"})})


@routes.get("/prompt")
async def get_prompt(request: web.Request) -> web.Response:
    state = state_of(request)
    return web.json_response({"exec_info": {"queue_remaining": state.store.remaining()}})


def _query_float(request: web.Request, key: str, default: float, low: float, high: float) -> float:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _bad("invalid_query", f"'{key}' must be a number, got {raw!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise _bad("invalid_query", f"'{key}' must be within {low:g}..{high:g}, got {raw!r}")
    return value


def _query_int(request: web.Request, key: str, high: int) -> int | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) > high:
        raise _bad("invalid_query", f"'{key}' must be a whole number 0..{high}, got {raw!r}")
    return int(raw)


@routes.get("/queue")
async def get_queue(request: web.Request) -> web.Response:
    store = state_of(request).store
    running, pending = await asyncio.to_thread(lambda: (store.running(), store.pending()))
    return web.json_response({
        "queue_running": [job.queue_item() for job in running],
        "queue_pending": [job.queue_item() for job in pending],
    })


@routes.post("/queue")
async def post_queue(request: web.Request) -> web.Response:
    """`{"clear": true}` empties the pending queue; `{"delete": [ids]}` removes pending jobs."""
    state = state_of(request)
    body = await read_json_object(request, state.config.max_json_bytes)
    delete = _string_list(body, "delete")
    if body.get("clear") is True:
        await asyncio.to_thread(state.store.clear_pending)
    if delete:
        await asyncio.to_thread(state.store.delete_pending, delete)
    state.queue_changed()
    return web.Response(status=200)


@routes.get("/history")
async def get_history(request: web.Request) -> web.Response:
    state = state_of(request)
    max_items = _query_int(request, "max_items", MAX_HISTORY_PAGE)
    offset = _query_int(request, "offset", 10**9) or 0
    jobs = await asyncio.to_thread(state.store.history, max_items, offset)
    return web.json_response({job.id: job.history_entry() for job in jobs})


@routes.get("/history/{prompt_id}")
async def get_history_item(request: web.Request) -> web.Response:
    job = state_of(request).store.get(request.match_info["prompt_id"])
    if job is None or job.finished is None:
        return web.json_response({})
    return web.json_response({job.id: job.history_entry()})


@routes.post("/history")
async def post_history(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json_object(request, state.config.max_json_bytes)
    delete = _string_list(body, "delete")
    if body.get("clear") is True:
        await asyncio.to_thread(state.store.clear_history)
    if delete:
        await asyncio.to_thread(state.store.delete_history, delete)
    return web.Response(status=200)


@routes.post("/interrupt")
async def post_interrupt(request: web.Request) -> web.Response:
    """Interrupt the running job; with `{"prompt_id"}` only if that one is running (ComfyUI's semantics)."""
    state = state_of(request)
    body = await read_json_object(request, state.config.max_json_bytes)
    prompt_id = _optional_str(body, "prompt_id")
    if state.worker is not None:
        state.worker.interrupt(prompt_id)
    return web.Response(status=200)


@routes.post("/free")
async def post_free(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json_object(request, state.config.max_json_bytes)
    unload, free = body.get("unload_models", False), body.get("free_memory", False)
    if not isinstance(unload, bool) or not isinstance(free, bool):
        raise _bad("invalid_body", "'unload_models' and 'free_memory' must be true or false")
    if state.worker is not None and (unload or free):
        state.worker.request_free(unload, free)
    return web.Response(status=200)


# -- additions: job status ------------------------------------------------------------------------------


def job_status(state: ServerState, job: Job) -> dict[str, Any]:
    """Our job record: status pending | running | succeeded | failed | interrupted, with outputs or error."""
    record: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "number": job.queue_item()[0],
        "client_id": job.client_id,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
    }
    if job.status == "pending":
        record["queue_position"] = state.store.queue_position(job)
    if job.outputs is not None:
        record["outputs"] = job.outputs
    if job.error is not None:
        record["error"] = job.error
    return record


@routes.get("/jobs")
async def get_jobs(request: web.Request) -> web.Response:
    state = state_of(request)
    limit = _query_int(request, "limit", 10_000) or 100
    if "status" in request.query:  # ComfyUI's Jobs API (its frontend's queue and history panels)
        statuses = comfy_jobs.parse_statuses(request.query["status"])
        if statuses is None:
            raise _bad("invalid_query", f"'status' must list some of {', '.join(comfy_jobs.COMFY_STATUS.values())}")
        offset = _query_int(request, "offset", 10**9) or 0
        everything = await asyncio.to_thread(state.store.recent, MAX_HISTORY_PAGE)
        return web.json_response(comfy_jobs.comfy_listing(everything, statuses, limit, offset))
    jobs = await asyncio.to_thread(state.store.recent, limit)
    return web.json_response({"jobs": [job_status(state, job) for job in jobs]})


@routes.get("/jobs/{job_id}")
async def get_job(request: web.Request) -> web.Response:
    state = state_of(request)
    job = state.store.get(request.match_info["job_id"])
    if job is None:
        return json_error(404, "not_found", "no such job")
    return web.json_response(job_status(state, job))


@routes.post("/jobs/{job_id}/cancel")
async def cancel_job(request: web.Request) -> web.Response:
    """Cancel one job: a pending one is removed (recorded as interrupted), a running one is interrupted."""
    state = state_of(request)
    job_id = request.match_info["job_id"]
    job = state.store.get(job_id)
    if job is None:
        return json_error(404, "not_found", "no such job")
    if job.status == "pending" and await asyncio.to_thread(state.store.cancel_pending, job_id):
        state.queue_changed()
        state.job_finished(job_id)
        return web.json_response({"id": job_id, "status": "interrupted"})
    if job.status == "running" and state.worker is not None and state.worker.interrupt(job_id):
        return web.json_response({"id": job_id, "status": "interrupting"}, status=202)
    latest = state.store.get(job_id)
    status = latest.status if latest else "unknown"
    return json_error(409, "conflict", f"the job has already ended ({status})")
