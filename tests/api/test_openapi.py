"""The OpenAPI document covers exactly the routes the router serves, and /docs renders it offline."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from api.app import create_app
from api.config import ServerConfig
from api.engine import EngineAdapter
from api.openapi import build_document, route_table
from api.store import JobStore
from folders import Folders
from graph.registry import NodeRegistry
from tests.api.server_harness import Server


def _app(tmp_path: Path) -> web.Application:
    store = JobStore(tmp_path / "jobs.db", 10)
    return create_app(ServerConfig(), Folders.at(tmp_path), EngineAdapter(NodeRegistry()), store)


def test_every_route_is_documented_and_nothing_else(tmp_path: Path) -> None:
    app = _app(tmp_path)
    document = build_document(app, "test")
    documented = {(method.upper(), path) for path, operations in document["paths"].items()
                  for method in operations}
    routed = {(method, path) for method, path, _handler in route_table(app)}
    assert documented == routed
    undocumented = sorted(f"{method.upper()} {path}" for path, operations in document["paths"].items()
                          for method, operation in operations.items() if operation.get("x-undocumented"))
    assert undocumented == []
    # Every `/` alias of an /api route was folded into it, and the ComfyUI classics are there.
    for path in ("/api/prompt", "/api/queue", "/api/history", "/api/object_info", "/api/view", "/api/ws",
                 "/api/openapi.json", "/docs"):
        assert path in document["paths"], path
    assert "/prompt" not in document["paths"]
    for path, operations in document["paths"].items():
        for name in re.findall(r"\{([^}]+)\}", path):
            for operation in operations.values():
                assert any(p["name"] == name and p["in"] == "path" for p in operation["parameters"]), (path, name)
        for operation in operations.values():
            assert operation["responses"], path


def test_a_new_route_without_description_is_reported(tmp_path: Path) -> None:
    app = _app(tmp_path)

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/undocumented/{thing}", handler)
    document = build_document(app, "test")
    assert document["paths"]["/api/undocumented/{thing}"]["get"]["x-undocumented"] is True


def test_served_document_and_offline_docs_page(server: Server) -> None:
    reply = server.request("GET", "/api/openapi.json")
    assert reply.status == 200
    document = reply.json()
    assert document["openapi"].startswith("3.")
    assert "post" in document["paths"]["/api/prompt"]
    page = server.request("GET", "/docs")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    text = page.body.decode()
    assert "/api/openapi.json" in text
    # Offline: no script, style or font from anywhere but this server.
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert "cdn" not in text.lower()
