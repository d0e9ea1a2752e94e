"""The websocket hub: per-client routing of job events, bounded per-client buffers, reconnect with state.

Everything here runs on the event loop; the worker thread reaches it through `loop.call_soon_threadsafe`.
A client that falls `buffer` messages behind is disconnected instead of buffering without bound, and a failed
send only ever drops that client: the job that produced the message never sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import socket
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from api.jsonbody import BadRequest

log = logging.getLogger(__name__)

#: Binary frame event types (ComfyUI's `protocol.py`).
PREVIEW_IMAGE = 1
IMAGE_TYPE_JPEG = 1
IMAGE_TYPE_PNG = 2
#: Inbound websocket messages are tiny (feature flags); anything larger closes the socket with 1009.
MAX_INBOUND_MESSAGE = 64 * 1024
MAX_CLIENT_ID_LENGTH = 128
#: Dead sockets are noticed within about 1.5x this, which frees their clientId for a reconnect.
HEARTBEAT_SECONDS = 10.0
MAX_REMEMBERED_CLIENTS = 10_000
#: A client with more than this waiting to be sent is disconnected.
MAX_QUEUED_BYTES = 16 * 1024 * 1024
#: The feature flag a client sends (`{"type": "feature_flags", "data": {PREVIEW_FLAG: true}}`) to receive binary
#: step previews when the server runs with `--preview-method none` (the default, as in ComfyUI). A client that
#: never sends it sees only ComfyUI's JSON messages: third-party clients do not expect binary frames.
PREVIEW_FLAG = "latent_loom_previews"
SERVER_FEATURE_FLAGS: dict[str, Any] = {"supports_preview_metadata": False, PREVIEW_FLAG: True}

Frame = str | bytes


class HubListener(Protocol):
    """Something on the loop that sees every message the hub sends, whoever it is addressed to (api/v2)."""

    def message(self, event: str, data: dict[str, Any]) -> None: ...

    def preview(self, frame: bytes) -> None: ...

    def wants_previews(self) -> bool: ...


def preview_frame(image_bytes: bytes, image_type: int) -> bytes:
    """A binary preview frame: event type 1, image type (1 JPEG, 2 PNG), then the encoded image."""
    return struct.pack(">II", PREVIEW_IMAGE, image_type) + image_bytes


@dataclass
class RunningState:
    """What a reconnecting client needs to catch up on: the running job and its current node."""

    prompt_id: str
    client_id: str | None
    node: str | None = None


@dataclass(eq=False)
class Client:
    """One connected socket and its outgoing buffer."""

    sid: str
    socket: web.WebSocketResponse
    request: web.Request
    queue: asyncio.Queue[Frame]
    sender: asyncio.Task[None] | None = None
    dropped: bool = False
    #: Bytes waiting in `queue`; previews are large, so the buffer is bounded in bytes as well as in messages.
    queued_bytes: int = 0
    features: dict[str, Any] = field(default_factory=dict)


def wants_previews(client: Client) -> bool:
    """Whether this client asked for binary previews with the PREVIEW_FLAG feature flag."""
    return client.features.get(PREVIEW_FLAG) is True


class Hub:
    """Connected websocket clients by client id."""

    def __init__(self, buffer: int, queue_remaining: Callable[[], int]) -> None:
        self.buffer = buffer
        self.queue_remaining = queue_remaining
        self.clients: dict[str, Client] = {}
        self.running: RunningState | None = None
        self.resume_tokens: dict[str, str] = {}
        self.dropped_slow_clients = 0
        self.listeners: list[HubListener] = []

    # -- outgoing ----------------------------------------------------------------------------------------

    def send(self, event: str, data: dict[str, Any], sid: str | None = None) -> None:
        """Send a `{"type", "data"}` message to one client, or to everyone when `sid` is None."""
        for listener in self.listeners:
            try:
                listener.message(event, data)
            except Exception:  # a listener's bug must not stop the message
                log.exception("hub listener failed on %s", event)
        self._deliver(json.dumps({"type": event, "data": data}), sid)

    def send_binary(self, frame: bytes, sid: str | None = None) -> None:
        """Send a binary frame to one client, or to everyone when `sid` is None."""
        self._deliver(frame, sid)

    def send_preview(self, frame: bytes, sid: str | None, everyone: bool) -> None:
        """A preview frame for `sid` (or all clients): only to those that asked, unless `everyone` (the server's
        `--preview-method` is on, so every client gets them, as in ComfyUI). Listeners see every preview."""
        for listener in self.listeners:
            try:
                listener.preview(frame)
            except Exception:
                log.exception("hub listener failed on a preview")
        self._deliver(frame, sid, None if everyone else wants_previews)

    def preview_audience(self, sid: str | None, everyone: bool) -> bool:
        """Whether a preview for `sid` would reach anyone (read from the worker thread: may be stale by one).

        A listener that wants previews (an open v2 event stream) counts: it asked for them."""
        if any(listener.wants_previews() for listener in self.listeners):
            return True
        clients = list(self.clients.values()) if sid is None else [c for c in [self.clients.get(sid)] if c]
        return any(everyone or wants_previews(client) for client in clients)

    def send_status(self) -> None:
        """Tell everyone how many jobs remain (sent on every queue change)."""
        self.send("status", self._status_data())

    def _status_data(self, sid: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": self.queue_remaining()}}}
        if sid is not None:
            data["sid"] = sid
        return data

    def _deliver(self, frame: Frame, sid: str | None, accept: Callable[[Client], bool] | None = None) -> None:
        targets = list(self.clients.values()) if sid is None else [c for c in [self.clients.get(sid)] if c]
        for client in targets:
            if client.dropped or (accept is not None and not accept(client)):
                continue
            if client.queued_bytes + len(frame) > MAX_QUEUED_BYTES:
                self._drop(client, "it is not reading its messages")
                continue
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                self._drop(client, "it is not reading its messages")
                continue
            client.queued_bytes += len(frame)

    def _drop(self, client: Client, reason: str) -> None:
        """Disconnect a client at once, without waiting on it (its socket may be stuck)."""
        if client.dropped:
            return
        client.dropped = True
        self.dropped_slow_clients += 1
        log.warning("websocket client %s disconnected: %s", client.sid, reason)
        if self.clients.get(client.sid) is client:
            del self.clients[client.sid]
        if client.sender is not None:
            client.sender.cancel()
        transport = client.request.transport
        if transport is not None:
            raw = transport.get_extra_info("socket")
            if raw is not None:
                # Linger 0: the close resets the connection and the kernel drops what it still buffers for it.
                with contextlib.suppress(OSError):
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()

    async def _pump(self, client: Client) -> None:
        try:
            while True:
                frame = await client.queue.get()
                client.queued_bytes -= len(frame)
                if isinstance(frame, bytes):
                    await client.socket.send_bytes(frame)
                else:
                    await client.socket.send_str(frame)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a broken socket only ever loses this client
            log.info("websocket client %s: send failed (%s); dropping it", client.sid, error)
            self._drop(client, "send failed")

    # -- connections -------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The `/ws?clientId=` route."""
        sid = request.query.get("clientId") or uuid.uuid4().hex
        if len(sid) > MAX_CLIENT_ID_LENGTH or not sid.isprintable():
            raise BadRequest(400, "invalid_client_id", "clientId must be at most 128 printable characters")
        previous = self.clients.get(sid)
        if previous is not None and not previous.dropped:
            # The id is held by a live socket. Only its owner (who got the resume token) may take it over;
            # anyone else is refused, so a guessed id never yields another client's progress and previews.
            # A client whose old socket died unnoticed is let in once the heartbeat has closed it.
            presented = request.query.get("resume", "")
            if not hmac.compare_digest(presented.encode(), self._resume_token(sid).encode()):
                message = "this clientId is connected elsewhere; reconnect with its resume token"
                raise BadRequest(409, "conflict", message)
            self._drop(previous, "replaced by a new connection with the same clientId")
            self.dropped_slow_clients -= 1
        socket = web.WebSocketResponse(max_msg_size=MAX_INBOUND_MESSAGE, heartbeat=HEARTBEAT_SECONDS)
        await socket.prepare(request)
        client = Client(sid, socket, request, asyncio.Queue(maxsize=self.buffer))
        self.clients[sid] = client
        client.sender = asyncio.create_task(self._pump(client))
        greeting = self._status_data(sid)
        greeting["resume_token"] = self._resume_token(sid)
        self.send("status", greeting, sid)
        running = self.running
        if running is not None and running.client_id == sid:
            self.send("execution_start", {"prompt_id": running.prompt_id}, sid)
            self.send(
                "executing",
                {"node": running.node, "display_node": running.node, "prompt_id": running.prompt_id},
                sid,
            )
        try:
            await self._receive(client)
        finally:
            if self.clients.get(sid) is client:
                del self.clients[sid]
            if client.sender is not None:
                client.sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await client.sender
        return socket

    def _resume_token(self, sid: str) -> str:
        """The secret that lets the holder of `sid` replace its own live socket (kept for recent ids only)."""
        token = self.resume_tokens.pop(sid, None) or secrets.token_urlsafe(16)
        self.resume_tokens[sid] = token  # re-inserted: the dict's order is least recently used first
        while len(self.resume_tokens) > MAX_REMEMBERED_CLIENTS:
            del self.resume_tokens[next(iter(self.resume_tokens))]
        return token

    async def _receive(self, client: Client) -> None:
        async for message in client.socket:
            if message.type == WSMsgType.TEXT:
                try:
                    payload = json.loads(message.data)
                except ValueError:
                    await client.socket.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"not JSON")
                    return
                if isinstance(payload, dict) and payload.get("type") == "feature_flags":
                    data = payload.get("data")
                    client.features = data if isinstance(data, dict) else {}
                    self.send("feature_flags", SERVER_FEATURE_FLAGS, client.sid)
            elif message.type == WSMsgType.BINARY:
                await client.socket.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"binary not accepted")
                return
            elif message.type == WSMsgType.ERROR:
                return

    async def close_all(self) -> None:
        """Close every socket (server shutdown)."""
        for client in list(self.clients.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.socket.close(code=WSCloseCode.GOING_AWAY), 1.0)
