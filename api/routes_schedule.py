"""`POST /api/schedule` (ours, not ComfyUI's): the σ schedule a sampler will use, with variance, SNR, timestep.

The numbers come from diffusion/sampling/schedule_table.py, i.e. from the code the samplers run; every field
of the body is checked and a bad one is refused naming the field, what was expected and what arrived.
"""

from __future__ import annotations

import math
from typing import Any, get_args

from aiohttp import web

from api.jsonbody import BadRequest, json_type_name, read_json_object
from api.openapi import describe, obj
from api.state import state_of
from diffusion.models.model_options import SamplingType
from diffusion.sampling.flow import FlowParams
from diffusion.sampling.samplers import SAMPLER_NAMES
from diffusion.sampling.schedule_table import ScheduleQuery, schedule_table
from diffusion.sampling.schedulers import SCHEDULER_NAMES

routes = web.RouteTableDef()
MAX_STEPS = 10000  # KSampler's own maximum


def _refuse(field: str, expected: str, value: Any) -> BadRequest:
    shown = repr(value) if isinstance(value, (str, int, float, bool)) else json_type_name(value)
    return BadRequest(400, "invalid_schedule", f"{field}: expected {expected}, received {shown}")


def _choice(body: dict[str, Any], field: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = body.get(field, default)
    if value is None and default is None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise _refuse(field, f"one of {list(choices)}", value)
    return value


def _number(body: dict[str, Any], field: str, default: float, low: float, high: float, *, integer: bool) -> float:
    value = body.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise _refuse(field, f"{'an integer' if integer else 'a number'} from {low:g} to {high:g}", value)
    if not math.isfinite(value) or not low <= value <= high:
        raise _refuse(field, f"a value from {low:g} to {high:g}", value)
    return value


def parse_query(body: dict[str, Any]) -> ScheduleQuery:
    """The request body as a ScheduleQuery; unknown fields are refused (a typo must not be ignored)."""
    known = {"scheduler", "steps", "denoise", "sampler_name", "sampling", "zsnr", "sigmas", "flow"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise _refuse(unknown[0], f"one of the fields {sorted(known)}", unknown[0])
    zsnr = body.get("zsnr", False)
    if not isinstance(zsnr, bool):
        raise _refuse("zsnr", "true or false", zsnr)
    sigmas = body.get("sigmas")
    custom: tuple[float, ...] | None = None
    if sigmas is not None:
        ok = isinstance(sigmas, list) and 0 < len(sigmas) <= MAX_STEPS + 1 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in sigmas)
        if not ok:
            raise _refuse("sigmas", f"a list of 1 to {MAX_STEPS + 1} finite numbers >= 0", sigmas)
        custom = tuple(float(v) for v in sigmas)
    flow = _flow(body.get("flow"))
    if flow is not None and ("sampling" in body or zsnr):
        raise _refuse("flow", "no 'sampling' or 'zsnr' with it (those patch discrete models)", "both")
    sampling_names: tuple[str, ...] = get_args(SamplingType)
    sampling = _choice(body, "sampling", sampling_names, None)
    return ScheduleQuery(
        scheduler=str(_choice(body, "scheduler", SCHEDULER_NAMES, "normal")),
        steps=int(_number(body, "steps", 20, 1, MAX_STEPS, integer=True)),
        denoise=float(_number(body, "denoise", 1.0, 0.0, 1.0, integer=False)),
        sampler_name=str(_choice(body, "sampler_name", SAMPLER_NAMES, "euler")),
        sampling=sampling,  # type: ignore[arg-type]  # checked against SamplingType's values above
        zsnr=zsnr,
        sigmas=custom,
        flow=flow,
    )


def _flow(value: Any) -> FlowParams | None:
    """``{"kind": "sd3"|"flux", "shift": number}`` (ModelSamplingSD3 / ModelSamplingFlux) or absent."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"kind", "shift"}:
        raise _refuse("flow", '{"kind": "sd3" or "flux", "shift": number}', value)
    kind = _choice(value, "kind", ("sd3", "flux"), "sd3")
    shift = _number(value, "shift", 3.0 if kind == "sd3" else 1.15, -100.0, 100.0, integer=False)
    if kind == "flux":
        return FlowParams("flux", shift, 1.0)
    if shift <= 0:
        raise _refuse("flow.shift", "a shift > 0 for sd3", shift)
    return FlowParams("sd3", shift, 1000.0)


@routes.post("/schedule")
@describe("The σ schedule a sampler will use (scheduler, steps, denoise, sampler, ModelSamplingDiscrete type and "
          "zsnr, flow model kind and shift, or custom sigmas) with noise variance, SNR and timestep per step",
          tags=["schedule"],
          body={"type": "object", "properties": {
              "scheduler": {"type": "string"}, "steps": {"type": "integer"}, "denoise": {"type": "number"},
              "sampler_name": {"type": "string"}, "sampling": {"type": "string"}, "zsnr": {"type": "boolean"},
              "sigmas": {"type": "array", "items": {"type": "number"}},
              "flow": {"type": "object", "properties": {"kind": {"type": "string"}, "shift": {"type": "number"}}}}},
          body_description="KSampler's schedule inputs; every field optional (KSampler's defaults)",
          responses={200: obj("sigmas, steps, rows [{step, sigma, variance, snr, log_snr, timestep}], sigma_min, "
                              "sigma_max"),
                     400: obj("a field is unknown, of the wrong type or out of range (named in the message)")})
async def post_schedule(request: web.Request) -> web.Response:
    """KSampler's schedule inputs → the σ values it will consume, with the derived columns."""
    state = state_of(request)
    body = await read_json_object(request, state.config.max_json_bytes, allow_empty=True)
    query = parse_query(body)
    return web.json_response(schedule_table(query))
