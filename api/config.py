"""Server configuration: command-line flags (ComfyUI's names where they overlap) and the checks made at start."""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass, field, fields
from pathlib import Path

from api.oplog import LOG_FORMATS, LOG_LEVELS
from runconfig import EngineConfig, add_engine_flags, engine_config

DEFAULT_PORT = 8188
#: ComfyUI's default upload limit (100 MB).
DEFAULT_MAX_UPLOAD_MB = 100.0
#: JSON bodies (prompts, history/queue edits) are refused above this before parsing.
DEFAULT_MAX_JSON_MB = 8.0
DEFAULT_HISTORY_SIZE = 10_000
#: Uploaded images above this many pixels are refused (a decompression bomb guard).
DEFAULT_MAX_UPLOAD_PIXELS = 64 * 1024 * 1024
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")


class ConfigError(Exception):
    """A combination of flags the server refuses to start with; the message says which and why."""


@dataclass(frozen=True)
class ServerConfig(EngineConfig):
    """Everything the API layer needs to know from the command line (the engine's part is shared with the CLI)."""

    listen: tuple[str, ...] = ("127.0.0.1",)
    port: int = DEFAULT_PORT
    #: ComfyUI's default: no binary previews unless a client asks (api/hub.py PREVIEW_FLAG).
    preview_method: str = "none"
    preview_size: int = 512
    access_token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1024 * 1024)
    max_json_bytes: int = int(DEFAULT_MAX_JSON_MB * 1024 * 1024)
    max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS
    history_size: int = DEFAULT_HISTORY_SIZE
    #: Messages buffered per websocket client; a client that falls further behind is disconnected.
    ws_buffer: int = 1024
    web_root: Path | None = None
    #: A ComfyUI frontend build (e.g. comfyui-frontend-package's static folder) served at `/` instead of ours.
    front_end_root: Path | None = None
    #: ComfyUI's --verbose levels (--quiet is WARNING); --log-format json writes one object per line.
    log_level: str = "INFO"
    log_format: str = "text"
    extra_flags: dict[str, object] = field(default_factory=dict)

    def engine(self) -> EngineConfig:
        """The engine part of the configuration, applied by runconfig.prepare exactly as the CLI's is."""
        return EngineConfig(**{item.name: getattr(self, item.name) for item in fields(EngineConfig)})

    def check(self) -> None:
        """Refuse unsafe or contradictory settings (raises ConfigError)."""
        if self.front_end_root is not None and not (self.front_end_root / "index.html").is_file():
            raise ConfigError(
                f"--front-end-root {self.front_end_root}: no index.html there; name a built ComfyUI frontend, "
                "e.g. the 'static' folder of the comfyui-frontend-package wheel"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be 1..65535, got {self.port}")
        exposed = [host for host in self.listen if not is_loopback(host)]
        if exposed and not self.access_token:
            raise ConfigError(
                f"refusing to listen on {', '.join(exposed)} without an access token: anyone who can reach "
                "this address could run workflows. Pass --access-token TOKEN (clients send it as "
                "'Authorization: Bearer TOKEN' or '?token=TOKEN'), or listen on 127.0.0.1 only."
            )
        if self.access_token is not None and len(self.access_token) < 16:
            raise ConfigError("--access-token must be at least 16 characters")
        for origin in self.cors_origins:
            if origin.strip() in ("*", "null"):
                raise ConfigError(
                    f"--cors-origin {origin!r} is refused: name explicit origins such as http://localhost:5173 "
                    "(a wildcard would let any website drive this server with the user's credentials)"
                )
            if not origin.startswith(("http://", "https://")) or origin.endswith("/"):
                raise ConfigError(f"--cors-origin must look like scheme://host[:port], got {origin!r}")
        if self.preview_method not in PREVIEW_METHODS:
            raise ConfigError(f"--preview-method must be one of {PREVIEW_METHODS}, got {self.preview_method!r}")
        if self.history_size < 1:
            raise ConfigError(f"--history-size must be >= 1, got {self.history_size}")


def is_loopback(host: str) -> bool:
    """Whether a listen address or Host name only reaches this machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    """The `server.py` flags."""
    parser = argparse.ArgumentParser(prog="server.py", description="Latent Loom server (ComfyUI-compatible API)")
    parser.add_argument(
        "--listen",
        nargs="?",
        const="0.0.0.0,::",
        default="127.0.0.1",
        help="comma-separated addresses to bind (bare flag: all interfaces; needs --access-token)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    add_engine_flags(parser)  # device, precision, folders, plugins: declared once, shared with the CLI
    parser.add_argument(
        "--preview-method", default="none", choices=PREVIEW_METHODS,
        help="step previews for every websocket client (default none: only clients that ask get them)",
    )
    parser.add_argument("--preview-size", type=int, default=512)
    parser.add_argument("--access-token", help="required on every request when set (needed beyond loopback)")
    parser.add_argument(
        "--allowed-hosts", default="", help="comma-separated extra Host names accepted (DNS-rebinding guard)"
    )
    parser.add_argument(
        "--cors-origin", action="append", default=[], help="an origin allowed cross-origin access (repeatable)"
    )
    parser.add_argument("--max-upload-size", type=float, default=DEFAULT_MAX_UPLOAD_MB, help="MB")
    parser.add_argument("--max-json-size", type=float, default=DEFAULT_MAX_JSON_MB, help="MB")
    parser.add_argument("--history-size", type=int, default=DEFAULT_HISTORY_SIZE)
    parser.add_argument("--web-root", type=Path, help="the built editor (default: web/dist)")
    parser.add_argument(
        "--front-end-root", type=Path,
        help="serve this ComfyUI frontend build at / instead of Latent Loom's editor (e.g. the static folder of "
        "the comfyui-frontend-package wheel)",
    )
    parser.add_argument(
        "--verbose", default="INFO", const="DEBUG", nargs="?", choices=LOG_LEVELS,
        help="log level (as ComfyUI: the bare flag means DEBUG)",
    )
    parser.add_argument("--quiet", action="store_true", help="log warnings and errors only (--verbose WARNING)")
    parser.add_argument("--log-format", default="text", choices=LOG_FORMATS,
                        help="text lines for people, or json: one object per line with the fields as keys")
    return parser


def config_from_args(argv: list[str]) -> ServerConfig:
    """Parse flags into a checked ServerConfig (raises ConfigError on unsafe settings)."""
    args = build_parser().parse_args(argv)
    engine = engine_config(args)
    listen = tuple(part.strip() for part in str(args.listen).split(",") if part.strip())
    config = ServerConfig(
        listen=listen or ("127.0.0.1",),
        port=args.port,
        **{item.name: getattr(engine, item.name) for item in fields(EngineConfig)},
        preview_method=args.preview_method,
        preview_size=args.preview_size,
        access_token=args.access_token,
        allowed_hosts=tuple(host.strip().lower() for host in args.allowed_hosts.split(",") if host.strip()),
        cors_origins=tuple(origin.strip() for origin in args.cors_origin),
        max_upload_bytes=int(args.max_upload_size * 1024 * 1024),
        max_json_bytes=int(args.max_json_size * 1024 * 1024),
        history_size=args.history_size,
        web_root=args.web_root,
        front_end_root=args.front_end_root,
        log_level="WARNING" if args.quiet else args.verbose,
        log_format=args.log_format,
    )
    config.check()
    return config
