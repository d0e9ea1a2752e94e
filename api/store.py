"""The job queue and history, persisted in SQLite so they survive a restart or a `kill -9`.

One table holds every job. Pending jobs run in order of (`number`, submission order); a job that was running
when the process died is marked interrupted at the next start (InvokeAI does the same: the invoker may have been
killed mid-run), never rerun and never reported done. Finished jobs are the history, bounded in count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

JobStatus = Literal["pending", "running", "succeeded", "failed", "interrupted"]
FINISHED: tuple[JobStatus, ...] = ("succeeded", "failed", "interrupted")
#: extra_data keys that are secrets: never stored (ComfyUI strips them from history only, not from the queue).
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    number REAL NOT NULL,
    status TEXT NOT NULL,
    prompt TEXT NOT NULL,
    extra_data TEXT NOT NULL,
    targets TEXT NOT NULL,
    client_id TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    finish_seq INTEGER,
    outputs TEXT,
    messages TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (status, number, seq);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finish_seq);
"""

#: Additive schema changes, applied in order once each (`PRAGMA user_version` counts the ones applied).
#: Never edit a shipped step: add a new one. An older database gains the new tables at its next start.
MIGRATIONS: tuple[str, ...] = (
    # 1: Comfy API v2 (api/v2): single-use Idempotency-Keys of submitted jobs, and the content-addressed
    # asset index (uploads, registered files, job outputs) naming each file by folder kind + relative name.
    """
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        key TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS assets (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        created REAL NOT NULL,
        job_id TEXT,
        node_id TEXT
    );
    CREATE INDEX IF NOT EXISTS assets_hash ON assets (hash);
    CREATE INDEX IF NOT EXISTS assets_job ON assets (job_id);
    """,
    # 2: Comfy API v2 job labels (`metadata`: string pairs given at submit), gone with their job.
    """
    CREATE TABLE IF NOT EXISTS job_labels (
        job_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (job_id, key)
    );
    CREATE INDEX IF NOT EXISTS job_labels_pair ON job_labels (key, value);
    CREATE TRIGGER IF NOT EXISTS job_labels_follow_jobs AFTER DELETE ON jobs
    BEGIN DELETE FROM job_labels WHERE job_id = old.id; END;
    """,
)


@dataclass(frozen=True)
class Job:
    """One queued, running or finished job."""

    id: str
    seq: int
    number: float
    status: JobStatus
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    targets: list[str]
    client_id: str | None
    created: float
    started: float | None = None
    finished: float | None = None
    outputs: dict[str, Any] | None = None
    messages: list[list[Any]] | None = None
    error: dict[str, Any] | None = None

    def queue_item(self) -> list[Any]:
        """ComfyUI's queue item: `[number, prompt_id, prompt, extra_data, outputs_to_execute]`."""
        return [_json_number(self.number), self.id, self.prompt, self.extra_data, self.targets]

    def history_entry(self) -> dict[str, Any]:
        """ComfyUI's history entry for a finished job."""
        succeeded = self.status == "succeeded"
        return {
            "prompt": self.queue_item(),
            "outputs": self.outputs or {},
            "status": {
                "status_str": "success" if succeeded else "error",
                "completed": succeeded,
                "messages": self.messages or [],
            },
            "meta": {
                node_id: {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}
                for node_id in (self.outputs or {})
            },
        }


def _json_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class DuplicateJobId(Exception):
    """A client-chosen prompt_id that is already in use."""


class IdempotencyKeyUsed(Exception):
    """An Idempotency-Key that already created a job (keys are single-use; the job id is `job_id`)."""

    def __init__(self, key: str, job_id: str) -> None:
        super().__init__(key)
        self.job_id = job_id


class JobStore:
    """Thread-safe access to the jobs database (the event loop submits, the worker thread runs)."""

    def __init__(self, path: Path, history_size: int) -> None:
        self.path = path
        self.history_size = history_size
        self._lock = threading.Lock()
        self._local = threading.local()
        self._db = _open_or_replace(path)
        self.recovered_interrupted = self._recover()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        yield self._reader()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection: WAL readers never wait for the writer (or its checkpoints)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=5000")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction on the jobs database, for the tables other modules own (assets, keys)."""
        return self._tx()

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection (never blocks on the writer)."""
        return self._reader()

    def _recover(self) -> list[str]:
        """Mark jobs that were running when the previous process died as interrupted."""
        now = time.time()
        with self._tx() as db:
            rows = db.execute("SELECT id FROM jobs WHERE status = 'running' ORDER BY seq").fetchall()
            for (job_id,) in rows:
                message = ["execution_interrupted", {"prompt_id": job_id, "reason": "server restarted"}]
                db.execute(
                    "UPDATE jobs SET status = 'interrupted', finished = ?, finish_seq = "
                    "(SELECT COALESCE(MAX(finish_seq), 0) + 1 FROM jobs), messages = ?, error = ? WHERE id = ?",
                    (
                        now,
                        json.dumps([message]),
                        json.dumps({"message": "the server stopped while this job was running"}),
                        job_id,
                    ),
                )
        ids = [row[0] for row in rows]
        if ids:
            log.warning("jobs running when the server stopped are marked interrupted: %s", ", ".join(ids))
        return ids

    def next_number(self) -> int:
        """The next automatic priority: one past the largest submission counter so far (persists across runs)."""
        with self._read() as db:
            row = db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
        return int(row[0]) + 1

    def add(
        self,
        job_id: str,
        number: float | None,
        front: bool,
        prompt: dict[str, Any],
        extra_data: dict[str, Any],
        targets: list[str],
        client_id: str | None,
        *,
        idempotency_key: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Job:
        """Queue a job; the automatic priority is taken inside the same transaction so ids never race.

        With `idempotency_key`, the key is recorded in the same transaction: a used key raises
        IdempotencyKeyUsed and queues nothing, and a refused submission never reaches here, so it uses no key.
        `labels` (v2 `metadata`) are stored with the job, in the same transaction.
        """
        clean_extra = {key: value for key, value in extra_data.items() if key not in SENSITIVE_EXTRA_DATA_KEYS}
        now = time.time()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone():
                raise DuplicateJobId(job_id)
            if idempotency_key is not None:
                used = db.execute("SELECT job_id FROM idempotency_keys WHERE key = ?", (idempotency_key,)).fetchone()
                if used:
                    raise IdempotencyKeyUsed(idempotency_key, str(used[0]))
                db.execute("INSERT INTO idempotency_keys (key, job_id, created) VALUES (?, ?, ?)",
                           (idempotency_key, job_id, now))
            if number is None:
                counter = int(db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0])
                number = float(-counter if front else counter)
            cursor = db.execute(
                "INSERT INTO jobs (id, number, status, prompt, extra_data, targets, client_id, created) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)",
                (job_id, number, json.dumps(prompt), json.dumps(clean_extra), json.dumps(targets), client_id, now),
            )
            seq = int(cursor.lastrowid or 0)
            db.executemany("INSERT INTO job_labels (job_id, key, value) VALUES (?, ?, ?)",
                           [(job_id, key, value) for key, value in (labels or {}).items()])
        return Job(job_id, seq, number, "pending", prompt, clean_extra, targets, client_id, now)

    def get(self, job_id: str) -> Job | None:
        with self._read() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def pending(self) -> list[Job]:
        """Pending jobs in the order they will run."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status = 'pending' ORDER BY number, seq"
            ).fetchall()
        return [_job(row) for row in rows]

    def pending_count(self) -> int:
        with self._read() as db:
            return int(db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'pending'").fetchone()[0])

    def queue_position(self, job: Job) -> int:
        """How many pending jobs run before `job`."""
        with self._read() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND (number < ? OR (number = ? AND seq < ?))",
                (job.number, job.number, job.seq),
            ).fetchone()
        return int(row[0])

    def remaining(self) -> int:
        """Pending plus running jobs, counted in one query (ComfyUI's `queue_remaining`)."""
        with self._read() as db:
            row = db.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('pending', 'running')").fetchone()
        return int(row[0])

    def running(self) -> list[Job]:
        with self._read() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE status = 'running'").fetchall()
        return [_job(row) for row in rows]

    def claim_next(self) -> Job | None:
        """Take the first pending job and mark it running (the worker's pop)."""
        with self._tx() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status = 'pending' ORDER BY number, seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            now = time.time()
            db.execute("UPDATE jobs SET status = 'running', started = ? WHERE seq = ?", (now, row[1]))
        return dataclasses.replace(_job(row), status="running", started=now)

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        outputs: dict[str, Any],
        messages: list[list[Any]],
        error: dict[str, Any] | None,
    ) -> None:
        """Record a job's end and evict the oldest history beyond the bound."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status = ?, finished = ?, outputs = ?, messages = ?, error = ?, finish_seq = "
                "(SELECT COALESCE(MAX(finish_seq), 0) + 1 FROM jobs) WHERE id = ?",
                (status, time.time(), json.dumps(outputs), json.dumps(messages), json.dumps(error), job_id),
            )
            self._evict(db)

    def _evict(self, db: sqlite3.Connection) -> None:
        db.execute(
            "DELETE FROM jobs WHERE finish_seq IS NOT NULL AND finish_seq <= "
            "(SELECT finish_seq FROM jobs WHERE finish_seq IS NOT NULL ORDER BY finish_seq DESC LIMIT 1 OFFSET ?)",
            (self.history_size,),
        )

    def delete_pending(self, job_ids: list[str]) -> list[str]:
        """Remove pending jobs by id; returns the ids that were removed."""
        removed = []
        with self._tx() as db:
            for job_id in job_ids:
                if db.execute("DELETE FROM jobs WHERE id = ? AND status = 'pending'", (job_id,)).rowcount:
                    removed.append(job_id)
        return removed

    def cancel_pending(self, job_id: str) -> bool:
        """Record a pending job as interrupted without running it (it stays visible in the history)."""
        message = ["execution_interrupted", {"prompt_id": job_id, "reason": "cancelled before it started"}]
        with self._tx() as db:
            changed = db.execute(
                "UPDATE jobs SET status = 'interrupted', finished = ?, messages = ?, error = ?, finish_seq = "
                "(SELECT COALESCE(MAX(finish_seq), 0) + 1 FROM jobs) WHERE id = ? AND status = 'pending'",
                (time.time(), json.dumps([message]), json.dumps({"message": "cancelled"}), job_id),
            ).rowcount
            self._evict(db)
        return bool(changed)

    def clear_pending(self) -> int:
        with self._tx() as db:
            return db.execute("DELETE FROM jobs WHERE status = 'pending'").rowcount

    def history(self, max_items: int | None = None, offset: int = 0) -> list[Job]:
        """Finished jobs oldest first; `max_items` alone gives the newest N (ComfyUI's paging)."""
        with self._read() as db:
            if max_items is None:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE finish_seq IS NOT NULL ORDER BY finish_seq LIMIT -1 OFFSET ?",
                    (offset,),
                ).fetchall()
            elif offset:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE finish_seq IS NOT NULL ORDER BY finish_seq LIMIT ? OFFSET ?",
                    (max_items, offset),
                ).fetchall()
            else:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE finish_seq IS NOT NULL ORDER BY finish_seq DESC LIMIT ?",
                    (max_items,),
                ).fetchall()
                rows.reverse()
        return [_job(row) for row in rows]

    def delete_history(self, job_ids: list[str]) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM jobs WHERE id = ? AND finish_seq IS NOT NULL", [(job_id,) for job_id in job_ids]
            )

    def clear_history(self) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE finish_seq IS NOT NULL")

    def recent(self, limit: int) -> list[Job]:
        """The newest jobs of any status (for the job list)."""
        with self._read() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [_job(row) for row in rows]


_COLUMNS = (
    "id, seq, number, status, prompt, extra_data, targets, client_id, created, started, finished, "
    "outputs, messages, error"
)


def _job(row: tuple[Any, ...]) -> Job:
    (job_id, seq, number, status, prompt, extra, targets, client, created, started, finished, outputs, messages,
     error) = row
    return Job(
        id=job_id,
        seq=seq,
        number=number,
        status=status,
        prompt=json.loads(prompt),
        extra_data=json.loads(extra),
        targets=json.loads(targets),
        client_id=client,
        created=created,
        started=started,
        finished=finished,
        outputs=json.loads(outputs) if outputs else None,
        messages=json.loads(messages) if messages else None,
        error=json.loads(error) if error else None,
    )


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.isolation_level = "DEFERRED"
    # WAL + NORMAL: a committed job survives the process being killed (not a power cut), and commits stay cheap.
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    result = db.execute("PRAGMA quick_check").fetchone()
    if result is None or result[0] != "ok":
        db.close()
        raise sqlite3.DatabaseError(f"quick_check: {result[0] if result else 'no answer'}")
    db.executescript(_SCHEMA)
    _migrate(db)
    columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    if not {"id", "number", "status", "finish_seq"} <= columns:
        db.close()
        raise sqlite3.DatabaseError("the jobs table has an unexpected layout")
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations this database has not had yet, each with its version bump in one transaction."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")


def _open_or_replace(path: Path) -> sqlite3.Connection:
    """Open the database; a corrupt one is moved aside (kept as a backup) with a warning and a new one starts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path)
    except sqlite3.DatabaseError as error:
        backup = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        log.warning("the job database %s is unreadable (%s); moved it to %s and started empty", path, error, backup)
        path.replace(backup)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(backup.with_name(backup.name + suffix))
        return _connect(path)
