"""`POST /api/grid` (ours): an XY(Z) grid of one workflow, its cells queued as ordinary jobs.

The axes are checked against the inputs' schemas before anything is queued (400 naming the axis, the node and
the input); the cells then go on the existing queue, in the order that loads each model once, and run on the
engine's one output cache, so shared work (model loads, text encodes) runs once. Each cell is a normal job: its
progress, result and error are the job's, under the `prompt_id` returned per cell. Drawing the labelled sheet
from the server is not done yet: `python server.py grid` draws it (see README, "See and compare").
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from api.engine import PromptRejected
from api.jsonbody import BadRequest, json_type_name, read_json_object
from api.openapi import describe, obj
from api.routes_jobs import submit
from api.state import state_of
from compare.axes import AxisError, parse_axis_json
from compare.grid import cell_workflow, expand, order_cells
from graph.formats import WorkflowFormatError, load_workflow, to_api_prompt

routes = web.RouteTableDef()


@routes.post("/grid")
@describe("Queue an XY(Z) grid: one job per cell, axes checked first", tags=["grid"],
          body={"type": "object", "required": ["prompt", "x"], "properties": {
              "prompt": {"type": "object"}, "x": {"type": "object"}, "y": {"type": "object"},
              "z": {"type": "object"}, "client_id": {"type": "string"}}},
          body_description='{"prompt": workflow, "x": {"node", "input", "values"}, "y"?: ..., "z"?: ...}',
          responses={200: obj("axes and cells [{index, values, prompt_id}] in queue order"),
                     400: obj("the workflow or an axis is refused (the axis, node and input named)")})
async def post_grid(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json_object(request, state.config.max_json_bytes, allow_empty=False)
    unknown = sorted(set(body) - {"prompt", "x", "y", "z", "client_id"})
    if unknown:
        raise BadRequest(400, "invalid_body", f"unknown field {unknown[0]!r}")
    if not isinstance(body.get("prompt"), dict):
        raise BadRequest(400, "invalid_body", f"'prompt' must be a workflow object, got "
                                              f"{json_type_name(body.get('prompt'))}")
    labels = [label for label in ("x", "y", "z") if label in body]
    if labels not in (["x"], ["x", "y"], ["x", "y", "z"]):
        raise BadRequest(400, "invalid_axis", "give 'x', then optionally 'y', then optionally 'z'")
    registry = state.engine.registry

    def plan() -> tuple[list[Any], list[tuple[Any, dict[str, Any]]]]:
        try:
            workflow = load_workflow(body["prompt"], registry)
        except WorkflowFormatError as error:
            raise BadRequest(400, "invalid_prompt", str(error)) from None
        try:
            axes = [parse_axis_json(label, body[label], workflow, registry) for label in labels]
        except AxisError as error:
            raise BadRequest(400, "invalid_axis", str(error)) from None
        cells = order_cells(expand(axes), axes, registry)
        return axes, [(cell, to_api_prompt(cell_workflow(workflow, axes, cell), registry)) for cell in cells]

    axes, planned = await asyncio.to_thread(plan)
    client = body.get("client_id")
    queued: list[dict[str, Any]] = []
    for cell, prompt in planned:
        job_body: dict[str, Any] = {"prompt": prompt, "extra_data": {"loom_grid_cell": list(cell.index)}}
        if isinstance(client, str):
            job_body["client_id"] = client
        try:
            job = await submit(state, job_body)
        except PromptRejected as rejected:  # the first cell is refused before the rest are queued
            return web.json_response({**rejected.body, "cells_queued": queued}, status=400)
        queued.append({"index": list(cell.index), "values": list(cell.values), "prompt_id": job.id})
    return web.json_response({"axes": [axis.to_json() for axis in axes], "cells": queued})
