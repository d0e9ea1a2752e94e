"""The Comfy API v2 error envelope `{"error": {"code", "message", "details"}}` and the handler wrapper.

Every v2 handler runs inside `envelope`: a refusal is a V2Error with its contract code and status; a refusal
from the shared body readers (api/jsonbody) keeps its status and becomes `invalid_request` (or
`payload_too_large`); anything unexpected reaches the app's errors middleware, whose 500 body is also a v2
envelope (`internal_error`) and whose details stay in the server log.
No traceback and no server path ever reaches the client.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from api.jsonbody import BadRequest

V2Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class V2Error(Exception):
    """A refused v2 request: `status`, the contract's machine-readable `code`, a sentence, optional details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers

    def response(self) -> web.Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return web.json_response({"error": error}, status=self.status, headers=self.headers)


def not_found(what: str) -> V2Error:
    return V2Error(404, "not_found", f"no such {what}")


def invalid_request(message: str, status: int = 400, details: dict[str, Any] | None = None) -> V2Error:
    return V2Error(status, "invalid_request", message, details)


def from_bad_request(error: BadRequest) -> V2Error:
    """A refusal of the shared readers (size limits, strict JSON) in v2's words."""
    code = "payload_too_large" if error.status == 413 else "invalid_request"
    return V2Error(error.status, code, error.message)


def envelope(handler: V2Handler) -> V2Handler:
    """Wrap a v2 handler so that every refusal or failure answers with the v2 error envelope."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except V2Error as error:
            return error.response()
        except BadRequest as error:
            return from_bad_request(error).response()

    return wrapped
