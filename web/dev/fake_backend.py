"""A stand-in backend for working on the editor without the engine (and for the load benchmark).

Serves web/dist and the fixture /object_info, accepts /prompt, and plays a fake run over /ws with
ComfyUI's message types: executing, progress with step previews, executed with an output image.
It is not the product server and no test of the product relies on it.

    .venv/bin/python web/dev/fake_backend.py --port 8189
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import uuid
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image

WEB = Path(__file__).resolve().parents[1]
FIXTURE = WEB / "src" / "fixtures" / "object_info.json"


def _png(color: tuple[int, int, int], size: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "PNG")
    return buf.getvalue()


def make_app(object_info: dict[str, Any], step_delay: float = 0.05) -> web.Application:
    """Build the fake backend application."""
    sockets: dict[str, web.WebSocketResponse] = {}
    history: dict[str, Any] = {}
    outputs: dict[str, bytes] = {}

    async def send(client: str, kind: str, data: dict[str, Any]) -> None:
        ws = sockets.get(client)
        if ws is not None and not ws.closed:
            await ws.send_str(json.dumps({"type": kind, "data": data}))

    async def run(client: str, prompt_id: str, prompt: dict[str, Any], extra: dict[str, Any]) -> None:
        await send(client, "execution_start", {"prompt_id": prompt_id})
        for node_id, node in prompt.items():
            await send(client, "executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id})
            if node["class_type"] == "KSampler":
                steps = int(node["inputs"].get("steps", 4))
                for i in range(1, min(steps, 8) + 1):
                    await asyncio.sleep(step_delay)
                    await send(
                        client, "progress", {"value": i, "max": min(steps, 8), "prompt_id": prompt_id, "node": node_id}
                    )
                    ws = sockets.get(client)
                    if ws is not None and not ws.closed:
                        frame = (1).to_bytes(4, "big") + (2).to_bytes(4, "big") + _png((20 * i, 80, 160))
                        await ws.send_bytes(frame)
            if node["class_type"] in ("SaveImage", "PreviewImage"):
                name = f"fake_{prompt_id[:8]}.png"
                outputs[name] = _png((200, 120, 40), 256)
                images = [{"filename": name, "subfolder": "", "type": "output"}]
                await send(
                    client,
                    "executed",
                    {"node": node_id, "display_node": node_id, "output": {"images": images}, "prompt_id": prompt_id},
                )
                history[prompt_id] = {
                    "prompt": [0, prompt_id, prompt, extra, [node_id]],
                    "outputs": {node_id: {"images": images}},
                    "status": {"status_str": "success", "completed": True},
                }
        await send(client, "executing", {"node": None, "prompt_id": prompt_id})
        await send(client, "execution_success", {"prompt_id": prompt_id})

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        client = request.query.get("clientId") or uuid.uuid4().hex
        sockets[client] = ws
        await ws.send_str(
            json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client}})
        )
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
        return ws

    async def post_prompt(request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body.get("prompt") or {}
        errors: dict[str, Any] = {}
        for node_id, node in prompt.items():
            info = object_info.get(node.get("class_type"))
            if info is None:
                errors[node_id] = {
                    "errors": [{"type": "invalid_prompt", "message": "unknown node"}],
                    "class_type": node.get("class_type"),
                }
                continue
            for name in info["input"].get("required", {}):
                if name not in node.get("inputs", {}):
                    errors.setdefault(node_id, {"errors": [], "class_type": node["class_type"]})["errors"].append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": name,
                            "extra_info": {"input_name": name},
                        }
                    )
        if errors:
            return web.json_response(
                {
                    "error": {
                        "type": "prompt_outputs_failed_validation",
                        "message": "Prompt outputs failed validation",
                    },
                    "node_errors": errors,
                },
                status=400,
            )
        prompt_id = uuid.uuid4().hex
        asyncio.get_running_loop().create_task(
            run(body.get("client_id", ""), prompt_id, prompt, body.get("extra_data", {}))
        )
        return web.json_response({"prompt_id": prompt_id, "number": len(history), "node_errors": {}})

    async def view(request: web.Request) -> web.Response:
        data = outputs.get(request.query.get("filename", ""))
        return web.Response(body=data, content_type="image/png") if data else web.Response(status=404)

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "dist" / "index.html")

    async def all_info(_: web.Request) -> web.Response:
        return web.json_response(object_info)

    async def one_info(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.json_response({name: object_info[name]} if name in object_info else {})

    async def queue(_: web.Request) -> web.Response:
        return web.json_response({"queue_running": [], "queue_pending": []})

    async def get_history(_: web.Request) -> web.Response:
        return web.json_response(history)

    app = web.Application()
    app.router.add_get("/object_info", all_info)
    app.router.add_get("/object_info/{name}", one_info)
    app.router.add_post("/prompt", post_prompt)
    app.router.add_get("/queue", queue)
    app.router.add_get("/history", get_history)
    app.router.add_get("/view", view)
    app.router.add_get("/ws", ws_handler)
    app.router.add_get("/", index)
    app.router.add_static("/assets", WEB / "dist" / "assets")
    return app


def main() -> None:
    """Serve the fake backend on loopback."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8189)
    parser.add_argument("--object-info", type=Path, default=FIXTURE)
    args = parser.parse_args()
    web.run_app(make_app(json.loads(args.object_info.read_text())), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
