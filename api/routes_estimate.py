"""Time estimates before queueing: `GET /api/estimate/calibration`, `POST /api/estimate` (ours, not ComfyUI's).

The machine's speed is measured once (`diffusion.speed.measure`, about a second) on first use and kept in
`user/latent_loom/speed.json`, so later starts reuse it; it is measured again when the device, the torch
version or the CPU count changes. The editor fetches the calibration at start-up (so the measurement is done
before the first Queue press) and asks for an estimate before each queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from api.estimate import ParamCache, estimate_prompt
from api.jsonbody import BadRequest, json_type_name, read_json_object
from api.openapi import describe, obj
from api.state import ServerState, state_of
from diffusion.speed import Calibration

routes = web.RouteTableDef()
log = logging.getLogger(__name__)
SPEED_FILE = Path("latent_loom") / "speed.json"
_CALIBRATION = "estimate.calibration"
_PARAMS = "estimate.params"


def _machine_key(device: str) -> dict[str, Any]:
    import torch

    return {"device": device, "torch": torch.__version__, "cpus": os.cpu_count(), "threads": torch.get_num_threads()}


def _load_or_measure(path: Path) -> dict[str, Any]:
    """The stored calibration when it was made on this machine, else a new measurement (stored)."""
    from diffusion.devices import default_device
    from diffusion.speed import measure

    device = str(default_device())
    key = _machine_key(device)
    try:
        stored = json.loads(path.read_text())
        if stored.get("machine") == key:
            return dict(stored)
    except (OSError, ValueError, AttributeError):
        pass
    calibration = measure(device)
    record = {**calibration.to_json(), "machine": key}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2))
    except OSError as error:  # a read-only user folder only costs a new measurement next time
        log.warning("could not store the speed calibration: %s", error)
    log.info("measured this machine's diffusion speed on %s: %.3f s per step overhead, %s", device,
             calibration.overhead_s, calibration.method)
    return record


async def calibration(state: ServerState) -> dict[str, Any]:
    """This machine's calibration, measured once per process at most (concurrent callers share the run)."""
    task = state.extras.get(_CALIBRATION)
    if task is None:
        path = state.folders.user_directory / SPEED_FILE
        task = asyncio.ensure_future(asyncio.to_thread(_load_or_measure, path))
        state.extras[_CALIBRATION] = task
    result: dict[str, Any] = await asyncio.shield(task)
    return result


def _public(record: dict[str, Any]) -> dict[str, Any]:
    device = str(record["device"])
    return {
        "device": device,
        "gpu": not device.startswith("cpu"),
        "overhead_s": record["overhead_s"],
        "per_unit_s": record["per_unit_s"],
        "method": record["method"],
        "measured_at": record["measured_at"],
    }


@routes.get("/estimate/calibration")
@describe("This machine's measured diffusion speed (measured on first use) and whether a GPU does the work",
          tags=["estimate"], responses={200: obj("device, gpu, overhead_s, per_unit_s, method, measured_at")})
async def get_calibration(request: web.Request) -> web.Response:
    """The measured speed of this machine (measuring it on first use) and whether a GPU does the work."""
    return web.json_response(_public(await calibration(state_of(request))))


@routes.post("/estimate")
@describe("Seconds of sampling a prompt will take on this machine, before queueing it", tags=["estimate"],
          body={"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "object"}}},
          body_description="{\"prompt\": API prompt}",
          responses={200: obj("seconds, samplers (one per sampler node), assumptions, calibration"),
                     400: obj("the body is not {\"prompt\": object}")})
async def post_estimate(request: web.Request) -> web.Response:
    """`{"prompt": API prompt}` → seconds of sampling expected on this machine, per sampler node, with assumptions."""
    state = state_of(request)
    body = await read_json_object(request, state.config.max_json_bytes, allow_empty=False)
    prompt = body.get("prompt")
    if not isinstance(prompt, dict):
        raise BadRequest(400, "invalid_body", f"'prompt' must be an API prompt object, got {json_type_name(prompt)}")
    record = await calibration(state)
    params = state.extras.get(_PARAMS)
    if params is None:
        params = state.extras[_PARAMS] = ParamCache(state.folders.model_path)

    speed = Calibration(**{name: record[name] for name in Calibration.__dataclass_fields__})
    result = await asyncio.to_thread(estimate_prompt, prompt, speed.step_seconds, params)
    return web.json_response({**result, "calibration": _public(record)})
