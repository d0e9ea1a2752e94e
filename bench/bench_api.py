"""API benchmark: /prompt latency under 50 concurrent clients, websocket fan-out of progress to 100 clients.

Both are reported as ratios against an aiohttp hello-world server measured in the same run (a GET route that
answers "ok", and a websocket route that broadcasts the same number of messages to the same clients), so the
numbers say what Latent Loom adds on top of aiohttp on this machine, not how fast the machine is.

    .venv/bin/python bench/bench_api.py [--clients 50] [--requests 20] [--ws-clients 100] [--steps 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
STUB_NODES = REPO / "tests" / "api" / "custom_nodes"

HELLO_SERVER = r'''
import asyncio, json, sys
from aiohttp import web
sockets = set()
async def hello(request):
    return web.Response(text="ok")
async def ws(request):
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    sockets.add(socket)
    try:
        async for _ in socket:
            pass
    finally:
        sockets.discard(socket)
    return socket
async def broadcast(request):
    steps = int(request.query["n"])
    for step in range(steps):
        text = json.dumps({"type": "progress", "data": {"value": step + 1, "max": steps, "prompt_id": "x",
                                                        "node": "2"}})
        for socket in list(sockets):
            await socket.send_str(text)
    for socket in list(sockets):
        await socket.send_str(json.dumps({"type": "executing", "data": {"node": None, "prompt_id": "x"}}))
    return web.Response(text="sent")
app = web.Application()
app.router.add_get("/hello", hello)
app.router.add_get("/ws", ws)
app.router.add_get("/broadcast", broadcast)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stub_prompt(value: int, steps: int = 1) -> dict[str, Any]:
    return {
        "1": {"class_type": "StubNumber", "inputs": {"value": value}},
        "2": {"class_type": "StubSteps", "inputs": {"value": ["1", 0], "steps": steps, "delay_ms": 0,
                                                     "preview_size": 0}},
        "3": {"class_type": "StubSave", "inputs": {"value": ["2", 0], "filename_prefix": "bench"}},
    }


async def wait_up(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def latencies(method: str, url: str, clients: int, requests: int, body: Any = None) -> list[float]:
    """Each of `clients` concurrent clients sends `requests` requests one after another; seconds per request."""
    times: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def client(index: int) -> None:
            for number in range(requests):
                payload = body(index * requests + number) if callable(body) else body
                started = time.perf_counter()
                async with session.request(method, url, json=payload) as response:
                    await response.read()
                    assert response.status == 200, response.status
                times.append(time.perf_counter() - started)

        await asyncio.gather(*(client(index) for index in range(clients)))
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def fan_out(ws_url: Callable[[int], str], clients: int, trigger: Any, is_last: Any) -> float:
    """Connect `clients` sockets, fire `trigger`, return seconds until every socket saw the last message."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = [await session.ws_connect(ws_url(index)) for index in range(clients)]
        await asyncio.sleep(0.5)
        done_at: list[float] = []
        context: dict[str, Any] = {}

        async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT and is_last(json.loads(message.data), context):
                    done_at.append(time.perf_counter())
                    return

        readers = [asyncio.create_task(drain(ws)) for ws in sockets]
        started = time.perf_counter()
        await trigger(session, context)
        await asyncio.wait_for(asyncio.gather(*readers), 120)
        for ws in sockets:
            await ws.close()
        return max(done_at) - started


async def main(args: argparse.Namespace) -> None:
    hello_port, loom_port = free_port(), free_port()
    base = Path(tempfile.mkdtemp(prefix="bench-api-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    hello = subprocess.Popen([sys.executable, "-c", HELLO_SERVER, str(hello_port)], env=env)
    loom = subprocess.Popen(
        [sys.executable, str(REPO / "server.py"), "--port", str(loom_port), "--base-directory", str(base),
         "--custom-nodes-directory", str(STUB_NODES), "--cpu", "--preview-method", "none"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        hello_url, loom_url = f"http://127.0.0.1:{hello_port}", f"http://127.0.0.1:{loom_port}"
        await wait_up(f"{hello_url}/hello")
        await wait_up(f"{loom_url}/api/features")
        await latencies("GET", f"{hello_url}/hello", 5, 5)  # warm both up
        await latencies("POST", f"{loom_url}/prompt", 5, 2, lambda n: {"prompt": stub_prompt(-n - 1)})

        reference = await latencies("GET", f"{hello_url}/hello", args.clients, args.requests)
        prompt = await latencies("POST", f"{loom_url}/prompt", args.clients, args.requests,
                                 lambda n: {"prompt": stub_prompt(n)})
        await wait_idle(loom_url)

        async def hello_trigger(session: aiohttp.ClientSession, context: dict[str, Any]) -> None:
            async with session.get(f"{hello_url}/broadcast?n={args.steps}") as response:
                await response.read()

        async def loom_trigger(session: aiohttp.ClientSession, context: dict[str, Any]) -> None:
            async with session.post(f"{loom_url}/prompt",
                                    json={"prompt": stub_prompt(10**6, steps=args.steps)}) as response:
                context["id"] = (await response.json())["prompt_id"]

        def hello_last(message: dict[str, Any], context: dict[str, Any]) -> bool:
            return message["type"] == "executing" and message["data"]["node"] is None

        def loom_last(message: dict[str, Any], context: dict[str, Any]) -> bool:
            return hello_last(message, context) and message["data"]["prompt_id"] == context.get("id")

        reference_fan = await fan_out(lambda i: f"ws://127.0.0.1:{hello_port}/ws", args.ws_clients,
                                      hello_trigger, hello_last)
        loom_fan = await fan_out(lambda i: f"ws://127.0.0.1:{loom_port}/ws?clientId=bench{i}", args.ws_clients,
                                 loom_trigger, loom_last)
    finally:
        for process in (hello, loom):
            process.terminate()
            process.wait(10)

    report(args, reference, prompt, reference_fan, loom_fan)


async def wait_idle(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{url}/prompt") as response:
                if (await response.json())["exec_info"]["queue_remaining"] == 0:
                    return
            await asyncio.sleep(0.1)


def report(args: argparse.Namespace, reference: list[float], prompt: list[float], reference_fan: float,
           loom_fan: float) -> None:
    ms = 1000.0
    ref50, ref99 = percentile(reference, 0.5), percentile(reference, 0.99)
    p50, p99 = percentile(prompt, 0.5), percentile(prompt, 0.99)
    messages = args.ws_clients * (args.steps + 1)
    print(f"POST /prompt, {args.clients} concurrent clients x {args.requests} requests (stub workflow, 3 nodes)")
    print(f"  hello-world GET  p50 {ref50 * ms:7.2f} ms   p99 {ref99 * ms:7.2f} ms   mean "
          f"{statistics.mean(reference) * ms:7.2f} ms")
    print(f"  /prompt          p50 {p50 * ms:7.2f} ms   p99 {p99 * ms:7.2f} ms   mean "
          f"{statistics.mean(prompt) * ms:7.2f} ms")
    print(f"  ratio            p50 {p50 / ref50:7.2f}x     p99 {p99 / ref99:7.2f}x")
    print(f"websocket fan-out: {args.steps} progress messages + end to {args.ws_clients} clients ({messages} sends)")
    print(f"  hello-world broadcast {reference_fan * ms:8.1f} ms ({messages / reference_fan:9.0f} msg/s)")
    print(f"  Latent Loom job       {loom_fan * ms:8.1f} ms ({messages / loom_fan:9.0f} msg/s)")
    print(f"  ratio                 {loom_fan / reference_fan:8.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--ws-clients", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
