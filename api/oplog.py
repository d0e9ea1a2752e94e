"""The server's operations log: how it is set up (text or JSON lines, ComfyUI's --verbose levels) and the
lines an operator reads: start-up, one per job, one per refused submission, shutdown.

Each of these lines carries its fields twice: in the text message (for people) and as `extra` attributes
named in `FIELDS` (for `--log-format json`, one object per line, so machines need no parsing of prose).
Tracebacks stay here, on the server: a client sees messages only (api/app.py, api/worker.py).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
#: Structured fields a line may carry (as `extra=`); the JSON formatter copies exactly these.
FIELDS = (
    "event", "prompt_id", "client_id", "status", "duration_s", "nodes_executed", "nodes_cached", "outputs",
    "reason", "error", "address", "base_directory", "device", "node_count", "pending", "interrupted",
)

log = logging.getLogger("loom")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the structured fields, and a traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        elif isinstance(trace := getattr(record, "traceback", None), str):
            entry["traceback"] = trace  # a node's, recorded where it ran (graph.events.NodeFailed)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """One line per record; a node's traceback (`extra={"traceback": ...}`) follows it, as an exception's would."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        trace = getattr(record, "traceback", None)
        return f"{line}\n{trace}" if isinstance(trace, str) and trace else line


def configure(level: str = "INFO", log_format: str = "text") -> None:
    """Route every logger to stderr at `level`, as text lines or JSON objects (replaces earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log is one line per request: only at DEBUG (the job lines say what matters).
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def output_names(outputs: Mapping[str, Any]) -> list[str]:
    """The files a job's ui outputs name ("sub/name.png", with " [temp]" for previews), in node order."""
    names: list[str] = []
    for ui in outputs.values():
        if not isinstance(ui, Mapping):
            continue
        for items in ui.values():
            for item in items if isinstance(items, list) else []:
                if isinstance(item, Mapping) and isinstance(item.get("filename"), str):
                    sub = item.get("subfolder") or ""
                    name = f"{sub}/{item['filename']}" if sub else str(item["filename"])
                    kind = item.get("type")
                    names.append(name if kind in (None, "output") else f"{name} [{kind}]")
    return names


def job_line(
    prompt_id: str, client_id: str | None, status: str, duration_s: float,
    executed: int, cached: int, outputs: Iterable[str], error: str | None = None,
) -> None:
    """The one line written when a job ends."""
    files = list(outputs)
    shown = ", ".join(files[:8]) + (f" (+{len(files) - 8} more)" if len(files) > 8 else "")
    text = (
        f"job {prompt_id} {status} in {duration_s:.2f}s (client {client_id or '-'}): "
        f"{executed} nodes executed, {cached} cached, outputs: {shown or 'none'}"
    )
    if error:
        text += f"; error: {error}"
    level = logging.INFO if status == "succeeded" else logging.WARNING
    log.log(level, text, extra={
        "event": "job", "prompt_id": prompt_id, "client_id": client_id, "status": status,
        "duration_s": round(duration_s, 3), "nodes_executed": executed, "nodes_cached": cached,
        "outputs": files, "error": error,
    })


def error_summary(error: Mapping[str, Any] | None) -> str | None:
    """A failed or interrupted job's error record as one phrase: the node, its type, the message."""
    if not error:
        return None
    message = str(error.get("exception_message") or error.get("message") or "")
    node_id, node_type = error.get("node_id"), error.get("node_type")
    where = f"{node_type or 'node'} (node {node_id})" if node_id is not None else ""
    if not message:
        return f"stopped at {where}" if where else None
    return f"{where}: {message}" if where else message


def refused_line(client_id: str | None, reason: str) -> None:
    """The one line written when a submission is refused (it never became a job)."""
    log.info("refused a prompt from client %s: %s", client_id or "-", reason,
             extra={"event": "refused", "client_id": client_id, "reason": reason})


def rejection_reason(body: Mapping[str, Any]) -> str:
    """A one-line summary of ComfyUI's 400 body: the main message and the first node errors."""
    error = body.get("error")
    message = str(error.get("message", "invalid prompt")) if isinstance(error, Mapping) else "invalid prompt"
    details: list[str] = []
    node_errors = body.get("node_errors")
    for node_id, entry in (node_errors.items() if isinstance(node_errors, Mapping) else []):
        errors = entry.get("errors", []) if isinstance(entry, Mapping) else []
        for item in errors if isinstance(errors, list) else []:
            if isinstance(item, Mapping):
                details.append(f"node {node_id}: {item.get('details') or item.get('message')}")
    if not details:
        return message
    more = f" (+{len(details) - 3} more)" if len(details) > 3 else ""
    return f"{message}: " + "; ".join(details[:3]) + more
