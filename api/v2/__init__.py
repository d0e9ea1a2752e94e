"""Comfy API v2, served natively: the contract the official Comfy SDKs (`comfy-sdk`, `@comfyorg/sdk`) speak.

    GET  /api/v2/health                      unauthenticated liveness probe
    POST /api/v2/jobs                        API-format workflow (+ closed extra_data), Idempotency-Key
    GET  /api/v2/jobs[?status=&limit=]       newest first
    GET  /api/v2/jobs/{id}                   status, queue position, progress, outputs (assets), error, metrics, urls
    GET  /api/v2/jobs/{id}/workflow          the executed API graph
    POST /api/v2/jobs/{id}/cancel            idempotent
    GET  /api/v2/jobs/{id}/events            SSE: status, progress, preview, output, log; Last-Event-ID resumes
    POST /api/v2/assets                      multipart upload (blake3, dedup; input/ or allow-listed model folders)
    POST /api/v2/assets/from-hash, /from-path;  HEAD /api/v2/assets/by-hash/{hash}
    GET  /api/v2/assets/{id}[/content]       metadata; bytes with Range

There is one queue and one store: a v2 job is a row of api/store.py like a /prompt job, so it shows in /queue,
/history, the websocket and the editor, and a /prompt job reads through v2. Idempotency keys and the asset
index are tables of the same database. Modules: `errors` (envelope), `records` (asset rows), `files` (hashing,
safetensors check, placement), `assets`, `live` (hub listener), `views` (job bodies), `routes_*`.
"""

from __future__ import annotations

from aiohttp import web

from api.state import ServerState
from api.v2 import docs, routes_assets, routes_events, routes_jobs
from api.v2.service import V2, V2Service


def install(app: web.Application, state: ServerState) -> V2Service:
    """Add the v2 routes (before the editor's catch-all) and listen to the hub for live job state."""
    docs.load_schemas()
    v2 = V2Service.create(state)
    app[V2] = v2
    state.hub.listeners.append(v2.live)
    for table in (routes_jobs.routes, routes_events.routes, routes_assets.routes, routes_assets.fallback):
        for route in table:
            assert isinstance(route, web.RouteDef)
            app.router.add_route(route.method, route.path, route.handler)
    return v2
