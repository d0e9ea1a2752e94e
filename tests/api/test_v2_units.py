"""Comfy API v2 pieces without a server: the store migration, upload names, safetensors headers, progress."""

from __future__ import annotations

import json
import re
import sqlite3
import struct
from pathlib import Path

import pytest

from api.store import MIGRATIONS, JobStore
from api.v2.errors import V2Error
from api.v2.files import check_safetensors, classify_upload, normalize_hash
from api.v2.live import LiveJob
from api.v2.records import job_labels
from api.v2.routes_events import Cursor

OLD_SCHEMA = """
CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, number REAL NOT NULL,
    status TEXT NOT NULL, prompt TEXT NOT NULL, extra_data TEXT NOT NULL, targets TEXT NOT NULL, client_id TEXT,
    created REAL NOT NULL, started REAL, finished REAL, finish_seq INTEGER, outputs TEXT, messages TEXT, error TEXT);
INSERT INTO jobs (id, number, status, prompt, extra_data, targets, created)
    VALUES ('old', 1, 'pending', '{}', '{}', '[]', 1.0);
"""


def test_an_older_database_gains_the_v2_tables_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
    store = JobStore(path, 100)
    try:
        assert store.get("old") is not None
        job = store.add("new", None, False, {}, {}, [], None, idempotency_key="k", labels={"client": "acme"})
        assert job.id == "new"
        assert job_labels(store, ["new", "old"]) == {"new": {"client": "acme"}}
        store.delete_pending(["new"])
        assert job_labels(store, ["new"]) == {}  # labels go with their job
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("SELECT job_id FROM idempotency_keys WHERE key = 'k'").fetchone() == ("new",)  # kept
    JobStore(path, 100).close()  # a second start applies nothing twice


@pytest.mark.parametrize(("name", "expected"), [
    ("photo.png", ("input", "photo.png")),
    ("input/sub/photo.png", ("input", "sub/photo.png")),
    ("checkpoints/m.safetensors", ("checkpoints", "m.safetensors")),
    ("models/loras/a/b.safetensors", ("loras", "a/b.safetensors")),
    ("unet/m.safetensors", ("diffusion_models", "m.safetensors")),
])
def test_upload_names_are_classified(name: str, expected: tuple[str, str]) -> None:
    assert classify_upload(name) == expected


@pytest.mark.parametrize("name", ["", "../x.png", "a/../b.png", "/abs.png", "a\\b.png", "x\x00.png", "./x.png",
                                  "configs/x.safetensors", "checkpoints/x.ckpt", "elsewhere/x.png", "C:x.png"])
def test_bad_upload_names_are_refused(name: str) -> None:
    with pytest.raises(V2Error) as refused:
        classify_upload(name)
    assert refused.value.status == 422 and refused.value.code == "invalid_request"


def _safetensors(header: object, data: bytes = b"\x00" * 8) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize(("content", "problem"), [
    (b"\x80\x04pk", "too short"),
    (b"\x80\x04pickle-protocol-data", "length"),
    (struct.pack("<Q", 10**12) + b"{}", "length"),
    (_safetensors([1, 2]), "JSON object"),
    (struct.pack("<Q", 4) + b"{{{{" + b"\x00", "not valid JSON"),
    (_safetensors({"w": {"dtype": "F32", "shape": [4]}}), "lacks"),
    (_safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}}), "outside"),
])
def test_safetensors_header_check(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=problem):
        check_safetensors(path)


def test_a_real_safetensors_file_passes(tmp_path: Path) -> None:
    path = tmp_path / "ok.safetensors"
    path.write_bytes(_safetensors({"__metadata__": {"a": "b"}, "w": {"dtype": "F32", "shape": [2],
                                                                     "data_offsets": [0, 8]}}))
    check_safetensors(path)


def test_hashes_are_normalized_or_refused() -> None:
    assert normalize_hash("BLAKE3:" + "A" * 64) == "blake3:" + "a" * 64
    with pytest.raises(V2Error):
        normalize_hash("blake3:xyz")


def test_progress_is_weighted_by_nodes_and_sampler_steps() -> None:
    job = LiveJob("j", 4, {"1": "A", "2": "KSampler", "3": "B", "4": "C"})
    job.cached.add("1")
    job.started = ["2"]
    job.current, job.step, job.steps = "2", 5, 10
    snapshot = job.progress()
    assert snapshot["value"] == pytest.approx((1 + 0.5) / 4)
    assert snapshot["nodes_done"] == 1 and snapshot["message"] == "KSampler 5/10"
    job.started, job.current, job.step, job.steps = ["2", "3"], "3", None, None
    assert job.progress()["value"] == pytest.approx(2 / 4)


def test_event_ids_resume_from_what_the_client_had() -> None:
    assert Cursor.resume("2.5.17") == Cursor(outputs=2, logs=5, count=17)
    assert Cursor.resume("garbage") == Cursor() and Cursor.resume(None) == Cursor()
    assert Cursor.resume("1.2.99999999999") == Cursor()


def test_vendored_contract_schemas_match_the_pinned_sdk() -> None:
    from tests.api.v2_contract import SCHEMAS_FILE, generated_schemas

    assert json.loads(SCHEMAS_FILE.read_text()) == json.loads(json.dumps(generated_schemas()))


def test_openapi_document_has_the_v2_routes_and_their_schemas(tmp_path: Path) -> None:
    from api.app import create_app
    from api.config import ServerConfig
    from api.engine import EngineAdapter
    from api.openapi import build_document
    from folders import Folders
    from graph.registry import NodeRegistry

    app = create_app(ServerConfig(), Folders.at(tmp_path), EngineAdapter(NodeRegistry()),
                     JobStore(tmp_path / "jobs.db", 10))
    document = build_document(app, "test")
    for path in ("/api/v2/health", "/api/v2/jobs", "/api/v2/jobs/{job_id}", "/api/v2/jobs/{job_id}/events",
                 "/api/v2/jobs/{job_id}/cancel", "/api/v2/jobs/{job_id}/workflow", "/api/v2/assets",
                 "/api/v2/assets/from-hash", "/api/v2/assets/from-path", "/api/v2/assets/{asset_id}",
                 "/api/v2/assets/{asset_id}/content"):
        assert path in document["paths"], path
    assert document["paths"]["/api/v2/jobs"]["post"]["responses"]["201"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/V2Job"}
    text = json.dumps(document)
    schemas = document["components"]["schemas"]
    for name in set(re.findall(r"#/components/schemas/([A-Za-z0-9]+)", text)):
        assert name in schemas, name
