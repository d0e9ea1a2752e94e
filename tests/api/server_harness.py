"""A real server process on a free loopback port, and a small client speaking ComfyUI's protocol to it."""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
STUB_NODES = Path(__file__).resolve().parent / "custom_nodes"
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Server:
    """One `python server.py` process with its own base directory."""

    def __init__(self, base: Path, *extra: str, token: str | None = None) -> None:
        self.base = base
        self.extra = list(extra)
        self.token = token
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = base / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        args = [sys.executable, str(REPO / "server.py"), "--base-directory", str(self.base), "--port",
                str(self.port), "--custom-nodes-directory", str(STUB_NODES), "--cpu", *self.extra]
        if self.token:
            args += ["--access-token", self.token]
        return args

    def start(self) -> Server:
        self.base.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.request("GET", "/api/features").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start in {START_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        """One HTTP request with exactly the headers given (plus Host and the token unless overridden)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        all_headers = {"Host": f"127.0.0.1:{self.port}", **self.auth(), **(headers or {})}
        payload = raw
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in all_headers.items():
                connection.putheader(key, value)
            if payload is not None:
                connection.putheader("Content-Length", str(len(payload)))
            connection.endheaders(payload)
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def post_prompt(self, prompt: dict[str, Any], **fields: Any) -> Reply:
        return self.request("POST", "/prompt", {"prompt": prompt, **fields})

    def wait_job(self, prompt_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll the job status until it has ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self.request("GET", f"/api/jobs/{prompt_id}")
            if reply.status == 200 and reply.json()["status"] not in ("pending", "running"):
                return dict(reply.json())
            time.sleep(0.05)
        raise TimeoutError(f"job {prompt_id} did not end in {timeout}s")


def chain(steps: int = 2, delay_ms: int = 0, preview: int = 0, value: int = 1, prefix: str = "stub") -> dict[str, Any]:
    """A three-node stub workflow: constant → counted steps (progress, previews) → save a PNG."""
    return {
        "1": {"class_type": "StubNumber", "inputs": {"value": value}},
        "2": {"class_type": "StubSteps",
              "inputs": {"value": ["1", 0], "steps": steps, "delay_ms": delay_ms, "preview_size": preview}},
        "3": {"class_type": "StubSave", "inputs": {"value": ["2", 0], "filename_prefix": prefix}},
    }


def failing(value: int = 1) -> dict[str, Any]:
    return {
        "1": {"class_type": "StubNumber", "inputs": {"value": value}},
        "2": {"class_type": "StubFail", "inputs": {"value": ["1", 0], "message": "stub failure"}},
        "3": {"class_type": "StubSave", "inputs": {"value": ["2", 0], "filename_prefix": "fail"}},
    }


async def collect_ws(
    server: Server, client_id: str, until_prompt: str | Callable[[], str | None] | None = None, timeout: float = 60.0,
    ready: asyncio.Event | None = None,
) -> list[Any]:
    """Messages received on /ws (text as dicts, binary as bytes) until `executing` with node null for a prompt.

    `until_prompt` may be a function: the id is then known only once the prompt has been submitted.
    """
    def done_prompt() -> str | None:
        return until_prompt() if callable(until_prompt) else until_prompt

    received: list[Any] = []
    async with aiohttp.ClientSession() as session:
        url = f"{server.url}/ws?clientId={client_id}"
        if server.token:
            url += f"&token={server.token}"
        async with session.ws_connect(url) as ws:
            if ready is not None:
                ready.set()
            # The job may end before its id is known here (the POST's answer races the websocket), so ended
            # ids are remembered and checked again whenever the socket is quiet.
            ended: set[str] = set()
            async with asyncio.timeout(timeout):
                while done_prompt() not in ended:
                    try:
                        message = await ws.receive(timeout=0.2)
                    except TimeoutError:
                        continue
                    if message.type == aiohttp.WSMsgType.BINARY:
                        received.append(message.data)
                        continue
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    data = json.loads(message.data)
                    received.append(data)
                    if data["type"] == "executing" and data["data"]["node"] is None:
                        ended.add(data["data"]["prompt_id"])
    return received


async def run_and_follow(
    server: Server, prompt: dict[str, Any], timeout: float = 60.0, **fields: Any
) -> tuple[str, list[Any]]:
    """As a ComfyUI client: connect /ws, POST /prompt with that client id, collect until the job's `executing: null`."""
    client_id = new_id()
    ready = asyncio.Event()
    box: dict[str, str] = {}
    listener = asyncio.create_task(collect_ws(server, client_id, lambda: box.get("id"), timeout, ready))
    await ready.wait()
    reply = await asyncio.to_thread(server.post_prompt, prompt, client_id=client_id, **fields)
    assert reply.status == 200, reply.body
    box["id"] = reply.json()["prompt_id"]
    return box["id"], await listener


def new_id() -> str:
    return uuid.uuid4().hex


def png_bytes(size: tuple[int, int] = (4, 4), color: tuple[int, int, int] = (1, 2, 3)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(server: Server, filename: str, data: bytes, path: str = "/upload/image", **fields: str) -> Reply:
    body, content_type = _multipart(fields, filename, data)
    return server.request("POST", path, raw=body, headers={"Content-Type": content_type})
