"""The asset index rows (table `assets` in the jobs database, see api/store.MIGRATIONS).

An asset names one file by folder kind ("input", "output", "temp" or a model kind such as "checkpoints")
and its '/'-separated name inside that kind's folders, with the blake3 hash of its bytes when it was indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from api.store import JobStore

_COLUMNS = "id, hash, size, content_type, kind, name, created, job_id, node_id"


@dataclass(frozen=True)
class AssetRow:
    id: str
    hash: str
    size: int
    content_type: str
    kind: str
    name: str
    created: float
    job_id: str | None = None
    node_id: str | None = None


def iso(timestamp: float) -> str:
    """A Unix time as an RFC 3339 UTC timestamp (the contract's AwareDatetime)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


class AssetIndex:
    """Reads and writes asset rows through the job store's connections (one database, one writer lock)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def get(self, asset_id: str) -> AssetRow | None:
        row = self.store.reader().execute(f"SELECT {_COLUMNS} FROM assets WHERE id = ?", (asset_id,)).fetchone()
        return AssetRow(*row) if row else None

    def by_hash(self, digest: str) -> list[AssetRow]:
        """Assets with these bytes, newest first."""
        rows = self.store.reader().execute(
            f"SELECT {_COLUMNS} FROM assets WHERE hash = ? ORDER BY created DESC", (digest,)
        ).fetchall()
        return [AssetRow(*row) for row in rows]

    def add(self, row: AssetRow) -> AssetRow:
        """Insert `row`, or return the row already stored under its id (deterministic ids of outputs)."""
        with self.store.transaction() as db:
            db.execute(
                f"INSERT OR IGNORE INTO assets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.id, row.hash, row.size, row.content_type, row.kind, row.name, row.created, row.job_id,
                 row.node_id),
            )
        stored = self.get(row.id)
        return stored if stored is not None else row


def job_labels(store: JobStore, job_ids: list[str]) -> dict[str, dict[str, str]]:
    """The v2 `metadata` labels of these jobs (jobs without labels are absent)."""
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(job_ids), 500):  # SQLite caps the number of parameters of one statement
        chunk = job_ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = store.reader().execute(
            f"SELECT job_id, key, value FROM job_labels WHERE job_id IN ({marks}) ORDER BY job_id, key", chunk
        ).fetchall()
        for job_id, key, value in rows:
            found.setdefault(job_id, {})[key] = value
    return found
