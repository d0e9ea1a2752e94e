"""Request guards: Host allow-list (DNS rebinding), cross-site refusal, access token, CORS, safe headers.

ComfyUI checks Origin only for loopback Hosts and turns the check off when CORS is on (design-anchors §C1);
here every request passes every guard, and CORS only ever adds explicitly configured origins.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from api.config import LOOPBACK_NAMES, ServerConfig
from api.jsonbody import json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_COOKIE = "latent_loom_token"
#: Content types a browser may send cross-site without a preflight ("simple" requests).
_SIMPLE_CONTENT_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
#: Routes whose body is raw content, which ComfyUI's frontend sends without a JSON content type (a setting's
#: value, a workflow file). Same-origin only: a cross-site request was refused before this is looked at.
_RAW_BODY_PREFIXES = ("/settings/", "/api/settings/", "/userdata/", "/api/userdata/")
#: Routes whose POST body is a file upload (multipart is their normal content type).
_UPLOAD_PATHS = ("/upload/image", "/upload/mask", "/api/upload/image", "/api/upload/mask", "/api/v2/assets")
#: Cheap liveness probe that a supervisor may call without the token (Comfy API v2 contract); Host and
#: Origin checks still apply to it.
PUBLIC_PATHS = frozenset({"/api/v2/health"})


def _forbidden(message: str) -> web.Response:
    return json_error(403, "forbidden", message)


def split_host(host: str) -> tuple[str, str | None]:
    """`name[:port]` (IPv6 in brackets) → (lower-case name without brackets, port or None)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else None
    if host.count(":") == 1:
        name, _, port = host.partition(":")
        return name, port
    return host, None


class Guards:
    """The middlewares built from a ServerConfig."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        names = {name.lower() for name in LOOPBACK_NAMES}
        names.update(config.allowed_hosts)
        names.update(host.lower().strip("[]") for host in config.listen if host not in ("0.0.0.0", "::"))
        self.allowed_hosts = frozenset(names)
        self.cors_origins = frozenset(config.cors_origins)

    def middlewares(self) -> list[Middleware]:
        return [self.guard_middleware]

    def host_allowed(self, host: str | None) -> bool:
        """Whether the Host header names this server (a rebinding attack sends the attacker's name)."""
        if not host:
            return False
        name, _ = split_host(host)
        # An IP literal is never a rebinding vector: rebinding needs a name the attacker's DNS answers for.
        return name in self.allowed_hosts or _is_ip_literal(name)

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Safe headers on every response (errors and static files too); CORS for configured origins only."""
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin in self.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"

    @web.middleware
    async def guard_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every guard in order (one middleware: each extra layer costs every request a coroutine)."""
        refusal = self.check_host(request) or self.check_origin(request) or self.preflight(request)
        public = request.method in ("GET", "HEAD") and request.path in PUBLIC_PATHS
        if refusal is None and self.config.access_token is not None and not public:
            refusal = self.check_token(request, self.config.access_token)
        if refusal is not None:
            return refusal
        response = await handler(request)
        token = self.config.access_token
        if token is not None and "token" in request.query and request.path == "/" and not response.prepared:
            # The editor page was opened with ?token=: remember it so the page's own requests carry it.
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response

    def preflight(self, request: web.Request) -> web.StreamResponse | None:
        """Answer CORS preflights for configured origins (nothing else gets CORS)."""
        origin = request.headers.get(hdrs.ORIGIN)
        if request.method == "OPTIONS" and origin is not None and origin in self.cors_origins:
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
                    "Access-Control-Allow-Headers": (
                        "Content-Type, Authorization, X-Access-Token, Idempotency-Key, Range, Last-Event-ID"
                    ),
                    "Access-Control-Max-Age": "600",
                },
            )
        return None

    def check_host(self, request: web.Request) -> web.StreamResponse | None:
        if not self.host_allowed(request.headers.get(hdrs.HOST)):
            return _forbidden(
                "Host not allowed (DNS-rebinding guard); add the name with --allowed-hosts if it is yours"
            )
        return None

    def check_origin(self, request: web.Request) -> web.StreamResponse | None:
        """Refuse cross-site requests: a foreign or `null` Origin, or `Sec-Fetch-Site: cross-site`."""
        origin = request.headers.get(hdrs.ORIGIN)
        fetch_site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
        allowed_cross_origin = origin is not None and origin in self.cors_origins
        if origin is not None and not allowed_cross_origin:
            if origin.strip().lower() == "null":
                return _forbidden("requests with 'Origin: null' are refused")
            if not self._same_origin(origin, request):
                return _forbidden(f"cross-origin request from {origin} refused")
        if fetch_site == "cross-site" and not allowed_cross_origin and not _is_navigation(request):
            return _forbidden("cross-site request refused")
        if request.method not in ("GET", "HEAD", "OPTIONS") and (origin is not None or fetch_site):
            # A browser request: a JSON endpoint takes only JSON, so no "simple" cross-site form can reach it.
            content_type = request.content_type.lower()
            is_upload = request.path in _UPLOAD_PATHS
            simple = content_type in _SIMPLE_CONTENT_TYPES
            raw_body = request.path.startswith(_RAW_BODY_PREFIXES) and (
                fetch_site == "same-origin" or (origin is not None and self._same_origin(origin, request)))
            if (simple and not (is_upload and content_type == "multipart/form-data") and not raw_body
                    and request.can_read_body):
                return json_error(415, "unsupported_media_type", "send application/json")
        return None

    def _same_origin(self, origin: str, request: web.Request) -> bool:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        host = request.headers.get(hdrs.HOST, "")
        origin_name, origin_port = split_host(parts.netloc)
        host_name, host_port = split_host(host)
        default = "443" if parts.scheme == "https" else "80"
        return origin_name == host_name and (origin_port or default) == (host_port or default)

    def check_token(self, request: web.Request, token: str) -> web.StreamResponse | None:
        """With --access-token, every route (websocket included) needs it: header, `?token=` or the cookie."""
        presented = _presented_token(request)
        if presented is None or not hmac.compare_digest(presented.encode(), token.encode()):
            message = "an access token is required"
            return json_error(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})
        return None


def _is_navigation(request: web.Request) -> bool:
    """A user following a link to a page (like a SameSite=Lax cookie allows): GET only, never readable cross-site."""
    return request.method in ("GET", "HEAD") and request.headers.get("Sec-Fetch-Mode", "").lower() == "navigate"


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    for source in (request.headers.get("X-Access-Token"), request.query.get("token"),
                   request.cookies.get(TOKEN_COOKIE)):
        if source:
            return source
    return None
