"""ComfyUI's `server.PromptServer.instance` for custom nodes: custom routes and `send_sync` onto the websocket hub.

`import server` gives Latent Loom's server.py, whose module `__getattr__` hands out `PromptServer` from here. Packs
decorate `PromptServer.instance.routes` at import (before the app exists); the server adds those routes (with and
without the /api prefix, as its own) and attaches its hub when it builds the app (api/app.py, only when a pack
imported this module). Without a server (the CLI), `send_sync` has no one to tell and does nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Protocol

from aiohttp import web

from comfy_compat.missing import not_provided


class _Hub(Protocol):
    def send(self, event: str, data: dict[str, Any], sid: str | None = None) -> None: ...


class PromptServer:
    """The one instance packs reach through `PromptServer.instance`."""

    instance: ClassVar[PromptServer]

    def __init__(self) -> None:
        self.routes = web.RouteTableDef()
        #: "custom_nodes_from_web": packs' WEB_DIRECTORY is served (api/routes_plugins.py), so packs that would
        #: otherwise copy their scripts into the install's web/extensions folder leave it alone.
        self.supports = {"custom_nodes_from_web"}
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self._hub: _Hub | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def attach(self, hub: _Hub, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver `send_sync` messages through `hub`, on `loop` (the server's)."""
        self._hub, self.loop = hub, loop

    def send_sync(self, event: str, data: dict[str, Any], sid: str | None = None) -> None:
        """A `{"type": event, "data": data}` websocket message to `sid`, or to every client; safe from node code."""
        hub, loop = self._hub, self.loop
        if hub is None or loop is None:
            return
        loop.call_soon_threadsafe(hub.send, event, data, sid)

    def __getattr__(self, name: str) -> Any:
        raise not_provided("server.PromptServer.instance", name)


PromptServer.instance = PromptServer()


def install(app: web.Application, hub: _Hub) -> None:
    """Add the packs' routes to `app` (plain and under /api) and send their messages through `hub` once it runs."""
    from api.openapi import fragment, register

    for route in PromptServer.instance.routes:
        if isinstance(route, web.RouteDef):
            for prefix in ("", "/api"):
                app.router.add_route(route.method, prefix + route.path, route.handler)
            # Listed in /api/openapi.json as what it is: a pack's route, described by the pack, not by us.
            pack = getattr(route.handler, "__module__", "a custom node pack")
            register(route.method, "/api" + route.path, fragment(f"Custom route of {pack}", tags=["custom nodes"]))

    async def attach(app: web.Application) -> None:
        PromptServer.instance.attach(hub, asyncio.get_running_loop())

    app.on_startup.append(attach)
