"""One job, as the v2 contract shows it, built from the shared store record and the live state.

Status mapping (the store keeps ComfyUI's words): pending → queued; running → running, or canceling once a
cancel was asked for; succeeded; failed; interrupted → canceled, except a job the server's restart cut off,
which is failed with code `server_restarted` (nobody asked for it to stop).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from api.redact import redact
from api.store import Job, JobStore
from api.v2.assets import Assets, content_url
from api.v2.live import LiveView
from api.v2.records import AssetRow, iso, job_labels

#: Reported retention. History is bounded by count (--history-size), not by time; this is the contract's
#: required deadline, a lower bound on how long a job stays readable under normal use.
RETENTION_SECONDS = 30 * 24 * 3600
TERMINAL = frozenset({"succeeded", "canceled", "failed", "expired"})
STATUSES = ("queued", "running", "succeeded", "canceling", "canceled", "failed", "expired")
_OUTPUT_KEYS = {"images": "image", "gifs": "video", "video": "video", "videos": "video", "audio": "audio",
                "3d": "file", "files": "file", "latents": "latent"}


def v2_status(job: Job, canceling: bool) -> str:
    if job.status == "pending":
        return "queued"
    if job.status == "running":
        return "canceling" if canceling else "running"
    if job.status == "interrupted":
        return "failed" if _restarted(job) else "canceled"
    return job.status


def _restarted(job: Job) -> bool:
    return any(isinstance(m, list) and len(m) == 2 and isinstance(m[1], dict)
               and m[1].get("reason") == "server restarted" for m in job.messages or [])


def job_error(job: Job) -> dict[str, Any] | None:
    """The contract's JobError; never the traceback (it stays in the history for ComfyUI clients)."""
    if job.status == "interrupted" and _restarted(job):
        return {"code": "server_restarted", "message": "the server stopped while this job was running"}
    if job.status != "failed":
        return None
    error = job.error or {}
    node = error.get("node_id")
    message = str(error.get("exception_message") or error.get("message") or "the job failed")
    kind = error.get("exception_type")
    return {
        "code": "node_execution_error" if node is not None else "execution_error",
        "message": redact(f"{kind}: {message}" if kind else message),
        "node_id": str(node) if node is not None else None,
        "class_type": error.get("node_type"),
    }


@dataclass(frozen=True)
class OutputRef:
    """One thing a node showed: a file (folder kind + name) or a text (PreviewAny's `text`, `index`-th)."""

    node_id: str
    type: str
    kind: str
    name: str
    text: str | None = None
    index: int = 0


def file_outputs(ui_outputs: list[tuple[str, dict[str, Any]]]) -> list[OutputRef]:
    """Every file or text the nodes showed, in commit order."""
    found: list[OutputRef] = []
    for node_id, ui in ui_outputs:
        animated = bool(ui.get("animated")) and any(bool(flag) for flag in ui.get("animated") or [])
        for key, items in ui.items():
            if not isinstance(items, list):
                continue
            for index, item in enumerate(items):
                if key == "text" and isinstance(item, str):
                    found.append(OutputRef(node_id, "text", "temp", "", item, index))
                    continue
                if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
                    continue
                kind = item.get("type", "output")
                if kind not in ("output", "temp", "input"):
                    continue
                subfolder = str(item.get("subfolder") or "")
                name = f"{subfolder}/{item['filename']}" if subfolder else item["filename"]
                output_type = _OUTPUT_KEYS.get(key, "file")
                if output_type == "image" and animated:
                    output_type = "video"
                found.append(OutputRef(node_id, output_type, str(kind), name))
    return found


class JobViews:
    """Builds job bodies (call from a worker thread: reading outputs may hash new files; live state comes in
    as a LiveView copy taken on the loop)."""

    def __init__(self, store: JobStore, assets: Assets) -> None:
        self.store = store
        self.assets = assets

    def ui_outputs(self, job: Job, live: LiveView) -> list[tuple[str, dict[str, Any]]]:
        """The store's outputs once the job ended; before, those the live state saw committed."""
        if job.finished is not None:
            return [(str(node), ui) for node, ui in (job.outputs or {}).items() if isinstance(ui, dict)]
        return list(live.outputs)

    def outputs(self, job: Job, live: LiveView, base_url: str) -> list[dict[str, Any]]:
        result = []
        expires = iso(time.time() + 24 * 3600)
        for ref in file_outputs(self.ui_outputs(job, live)):
            row: AssetRow | None
            if ref.text is not None:
                row = self.assets.text_output(job.id, ref.node_id, ref.index, ref.text)
            else:
                row = self.assets.output(job.id, ref.node_id, ref.kind, ref.name)
            if row is None:
                continue
            result.append({
                "node_id": ref.node_id, "name": row.name.rsplit("/", 1)[-1], "type": ref.type,
                "content_type": row.content_type, "size_bytes": row.size, "id": row.id, "hash": row.hash,
                "url": content_url(base_url, row.id), "url_expires_at": expires, "job_id": job.id,
            })
        return result

    def progress(self, job: Job, status: str, live: LiveView) -> dict[str, Any] | None:
        if status == "queued":
            return None
        if live.progress is not None and status in ("running", "canceling"):
            return live.progress
        total = len(job.prompt)
        if status == "succeeded":
            return {"value": 1.0, "nodes_done": total, "nodes_total": total}
        if live.progress is not None:  # where a failed or canceled job stopped
            snapshot = dict(live.progress)
            snapshot.update(current_node=None, current_node_class=None, step=None, steps=None)
            snapshot.pop("message", None)
            return snapshot
        return {"value": 0.0, "nodes_done": 0, "nodes_total": total} if status in ("running", "canceling") else None

    def body(self, job: Job, base_url: str, live: LiveView) -> dict[str, Any]:
        status = v2_status(job, live.canceling)
        now = time.time()
        started, finished = job.started, job.finished
        path = f"/api/v2/jobs/{job.id}"
        return {
            "id": job.id,
            "status": status,
            "created_at": iso(job.created),
            "started_at": iso(started) if started is not None else None,
            "completed_at": iso(finished) if finished is not None else None,
            "expires_at": iso(job.created + RETENTION_SECONDS),
            "queue_position": self.store.queue_position(job) if status == "queued" else None,
            "progress": self.progress(job, status, live),
            "outputs": self.outputs(job, live, base_url),
            "error": job_error(job),
            "metrics": {
                "queue_ms": int(((started if started is not None else now) - job.created) * 1000),
                "execution_ms": int(((finished or now) - started) * 1000) if started is not None else None,
            },
            "urls": {"self": path, "events": f"{path}/events", "cancel": f"{path}/cancel"},
            "metadata": job_labels(self.store, [job.id]).get(job.id, {}),
        }

    def summary(self, job: Job, canceling: bool, labels: dict[str, str]) -> dict[str, Any]:
        """A list item: the lighter shape `GET /api/v2/jobs` returns (full job via its `urls.self`)."""
        status = v2_status(job, canceling)
        updated = job.finished or job.started or job.created
        path = f"/api/v2/jobs/{job.id}"
        return {
            "id": job.id, "status": status, "create_time": iso(job.created), "update_time": iso(updated),
            "metadata": labels,
            "queue_position": self.store.queue_position(job) if status == "queued" else None,
            "urls": {"self": path, "events": f"{path}/events", "cancel": f"{path}/cancel"},
        }
