"""The API reference: `/api/openapi.json` (built from the router at request time) and `/docs` (offline viewer)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

import api.openapi_comfy  # noqa: F401 - registers the fragments of the ComfyUI routes
from api.openapi import binary, build_document, describe, obj
from api.routes_info import VERSION

routes = web.RouteTableDef()
DOCS_PAGE = Path(__file__).resolve().parent / "static" / "docs.html"


@routes.get("/openapi.json")
@describe("This document (OpenAPI 3.1)", tags=["info"], responses={200: obj("the OpenAPI document")})
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app, VERSION))


@describe("The API reference, rendered offline from /api/openapi.json", tags=["info"],
          responses={200: binary("an HTML page", "text/html")})
async def docs_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(DOCS_PAGE, headers={"Content-Type": "text/html; charset=utf-8",
                                                "Cache-Control": "no-cache"})


def add_docs_page(app: web.Application) -> None:
    """`/docs` sits at the root only (it is a page, not an API route)."""
    app.router.add_get("/docs", docs_page)
