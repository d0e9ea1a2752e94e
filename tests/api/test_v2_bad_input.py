"""Comfy API v2 refusals: each bad input gets its documented code and status, and no traceback or path."""

from __future__ import annotations

import http.client
import json
import os
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api import v2_contract as contract
from tests.api.server_harness import Reply, Server, chain, png_bytes

UPLOAD_LIMIT_MB = "0.05"


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    instance = Server(tmp_path_factory.mktemp("v2bad"), "--max-upload-size", UPLOAD_LIMIT_MB).start()
    try:
        yield instance
    finally:
        instance.stop()


def upload_asset(server: Server, file_path: str, data: bytes, **fields: str) -> Reply:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
             for key, value in {"file_path": file_path, **fields}.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return server.request("POST", "/api/v2/assets", raw=b"".join(parts),
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def safetensors_bytes(values: int = 4) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [values], "data_offsets": [0, 4 * values]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * (4 * values)


def submit(server: Server, body: object) -> Reply:
    return server.request("POST", "/api/v2/jobs", body)


def test_health_and_unknown_routes(small_server: Server) -> None:
    assert small_server.request("GET", "/api/v2/health").json() == {"status": "healthy"}
    contract.error(small_server.request("GET", "/api/v2/nothing/here"), 404, "not_found")


def test_unknown_ids(small_server: Server) -> None:
    base = small_server.base
    missing = str(uuid.uuid4())
    for method, path in (("GET", f"/api/v2/jobs/{missing}"), ("GET", f"/api/v2/jobs/{missing}/workflow"),
                         ("POST", f"/api/v2/jobs/{missing}/cancel"), ("GET", f"/api/v2/jobs/{missing}/events"),
                         ("GET", f"/api/v2/assets/{missing}"), ("GET", f"/api/v2/assets/{missing}/content"),
                         ("GET", "/api/v2/jobs/..%2F..%2Fetc"), ("GET", "/api/v2/assets/" + "x" * 300)):
        contract.error(small_server.request(method, path), 404, "not_found", base)


def test_bad_job_bodies(small_server: Server) -> None:
    base = small_server.base
    contract.error(small_server.request("POST", "/api/v2/jobs", raw=b"{not json",
                                        headers={"Content-Type": "application/json"}), 400, "invalid_request", base)
    contract.error(submit(small_server, {"workflow": {"nodes": [], "links": [], "last_node_id": 0}}),
                   422, "workflow_format_ui")
    contract.error(submit(small_server, {"prompt": chain()}), 400, "invalid_request")
    contract.error(submit(small_server, {"workflow": []}), 422, "invalid_workflow")
    contract.error(submit(small_server, {"workflow": chain(), "extra_data": {"client_id": "x"}}), 400,
                   "invalid_request")
    for labels in ({"bad key!": "x"}, ["a"], {"k": 5}, {f"k{i}": "v" for i in range(17)}, {"k": "x" * 300}):
        contract.error(submit(small_server, {"workflow": chain(), "metadata": labels}), 422, "metadata_invalid")
    contract.error(small_server.request("GET", "/api/v2/jobs?metadata%5Bbad%20key%5D=x"), 400,
                   "invalid_metadata_filter")
    broken = chain()
    del broken["2"]["inputs"]["value"]
    body = contract.error(submit(small_server, {"workflow": broken}), 422, "invalid_workflow", base)
    assert "2" in body["error"]["details"]["node_errors"]
    assert "Node 2 (StubSteps)" in body["error"]["message"]
    bad_key = small_server.request("POST", "/api/v2/jobs", {"workflow": chain()},
                                   headers={"Idempotency-Key": "x" * 300})
    contract.error(bad_key, 400, "invalid_request")
    contract.error(small_server.request("GET", "/api/v2/jobs?limit=0"), 400, "invalid_request")
    contract.error(small_server.request("GET", "/api/v2/jobs?status=done"), 400, "invalid_request")


def test_malformed_and_unknown_asset_references(small_server: Server) -> None:
    def with_ref(ref: object) -> dict[str, object]:
        graph = chain()
        graph["4"] = {"class_type": "LoadImage", "inputs": {"image": ref}}
        return {"workflow": graph}

    before = small_server.request("GET", "/api/v2/jobs?limit=100").json()["jobs"]
    for ref in ({"__type": "core/ASSET"}, {"__type": "core/ASSET", "info": "x"},
                {"__type": "core/ASSET", "info": {"id": 5}}, {"__type": "core/ASSET", "info": {"id": "nope"}},
                {"__type": "core/ASSET", "info": {"id": str(uuid.uuid4()), "hash": "blake3:" + "0" * 64}}):
        body = contract.error(submit(small_server, with_ref(ref)), 422, "missing_asset", small_server.base)
        (item,) = body["error"]["details"]["missing_assets"]
        assert item["node_id"] == "4" and item["input"] == "image" and item["class_type"] == "LoadImage"
    assert small_server.request("GET", "/api/v2/jobs?limit=100").json()["jobs"] == before  # nothing queued


def test_upload_refusals(small_server: Server, tmp_path: Path) -> None:
    base = small_server.base
    contract.error(upload_asset(small_server, "big.png", b"\x00" * 60_000), 413, "payload_too_large", base)
    for name in ("../evil.png", "input/../../evil.png", "/etc/evil.png", "checkpoints/../../evil.safetensors",
                 "configs/evil.safetensors", "custom_nodes/evil.py", "a\\b.png", "input//x.png", "C:evil.png",
                 "checkpoints/model.ckpt", "loras/model.pt"):
        contract.error(upload_asset(small_server, name, png_bytes()), 422, "invalid_request", base)
    contract.error(upload_asset(small_server, "checkpoints/fake.safetensors", b"PK\x03\x04 pickle"), 422,
                   "invalid_request", base)
    assert not (base / "models" / "checkpoints" / "fake.safetensors").exists()
    assert not (base / "evil.png").exists() and not (base.parent / "evil.png").exists()
    outside = tmp_path / "outside"
    outside.mkdir()
    (base / "input").mkdir(exist_ok=True)
    os.symlink(outside, base / "input" / "escape")
    contract.error(upload_asset(small_server, "input/escape/x.png", png_bytes()), 422, "invalid_request", base)
    assert list(outside.iterdir()) == []
    contract.error(upload_asset(small_server, "ok.png", png_bytes(), expected_hash="blake3:" + "1" * 64), 409,
                   "hash_mismatch")
    contract.error(upload_asset(small_server, "ok.png", png_bytes(), expected_hash="md5:abc"), 400,
                   "invalid_request")


def test_model_upload_is_atomic_and_never_clobbers(small_server: Server) -> None:
    first = contract.asset(upload_asset(small_server, "models/checkpoints/up.safetensors", safetensors_bytes()), 201)
    assert first["file_path"] == "up.safetensors" and first["created_new"] is True
    target = small_server.base / "models" / "checkpoints" / "up.safetensors"
    assert target.read_bytes() == safetensors_bytes()
    again = contract.asset(upload_asset(small_server, "checkpoints/up.safetensors", safetensors_bytes()))
    assert again["id"] == first["id"] and again["created_new"] is False
    contract.error(upload_asset(small_server, "checkpoints/up.safetensors", safetensors_bytes(5)), 409, "file_exists")
    assert target.read_bytes() == safetensors_bytes()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert "up.safetensors" in small_server.request("GET", "/models/checkpoints").json()


def test_hash_routes(small_server: Server) -> None:
    base = small_server.base
    data = png_bytes((3, 3), (9, 8, 7))
    created = contract.asset(upload_asset(small_server, "hashme.png", data), 201)
    digest = created["hash"]
    assert small_server.request("HEAD", f"/api/v2/assets/by-hash/{digest}").status == 200
    assert small_server.request("HEAD", f"/api/v2/assets/by-hash/blake3:{'a' * 64}").status == 404
    minted = contract.asset(small_server.request("POST", "/api/v2/assets/from-hash", {"hash": digest}))
    assert minted["id"] == created["id"] and minted["created_new"] is False
    contract.error(small_server.request("POST", "/api/v2/assets/from-hash", {"hash": "blake3:" + "b" * 64}), 404,
                   "blob_not_found")
    contract.error(small_server.request("POST", "/api/v2/assets/from-hash", {"hash": "sha256:zz"}), 400,
                   "invalid_request")
    contract.error(small_server.request("POST", "/api/v2/assets/from-hash", {}), 422, "invalid_request")
    (base / "input" / "hashme.png").unlink()
    contract.error(small_server.request("GET", f"/api/v2/assets/{created['id']}/content"), 404,
                   "output_unavailable", base)


def test_from_path_is_confined_to_the_base_directory(small_server: Server, tmp_path: Path) -> None:
    base = small_server.base
    (base / "input").mkdir(exist_ok=True)
    (base / "input" / "local.png").write_bytes(png_bytes((2, 2)))
    registered = contract.asset(small_server.request("POST", "/api/v2/assets/from-path",
                                                     {"path": str(base / "input" / "local.png")}), 201)
    assert registered["file_path"] == "local.png"
    relative = contract.asset(small_server.request("POST", "/api/v2/assets/from-path", {"path": "input/local.png"}))
    assert relative["id"] == registered["id"]
    (tmp_path / "secret.txt").write_text("secret")
    contract.error(small_server.request("POST", "/api/v2/assets/from-path", {"path": str(tmp_path / "secret.txt")}),
                   422, "invalid_request", base)
    for outside in ("input/../../../etc/passwd", "/etc/passwd", "/nonexistent/file.png", "../x.png"):
        contract.error(small_server.request("POST", "/api/v2/assets/from-path", {"path": outside}), 422,
                       "invalid_request", base)
    contract.error(small_server.request("POST", "/api/v2/assets/from-path", {"path": "input/none.png"}), 404,
                   "blob_not_found", base)
    (base / "user").mkdir(exist_ok=True)
    (base / "user" / "notes.txt").write_text("x")
    contract.error(small_server.request("POST", "/api/v2/assets/from-path", {"path": "user/notes.txt"}), 422,
                   "invalid_request", base)


def test_input_upload_in_a_subfolder_with_range_reads(small_server: Server) -> None:
    data = png_bytes((5, 5), (1, 2, 3))
    created = contract.asset(upload_asset(small_server, "input/range/tiny.png", data), 201)
    assert created["file_path"] == "range/tiny.png"
    assert (small_server.base / "input" / "range" / "tiny.png").read_bytes() == data
    part = small_server.request("GET", f"/api/v2/assets/{created['id']}/content", headers={"Range": "bytes=1-3"})
    assert part.status == 206 and part.body == data[1:4]
    whole = small_server.request("GET", f"/api/v2/assets/{created['id']}/content")
    assert whole.status == 200 and whole.body == data and whole.headers["Content-Type"] == "image/png"
    other = png_bytes((5, 5), (4, 5, 6))  # same name, other bytes: kept beside it, never overwritten
    renamed = contract.asset(upload_asset(small_server, "input/range/tiny.png", other), 201)
    assert renamed["file_path"] == "range/tiny (1).png"
    assert (small_server.base / "input" / "range" / "tiny.png").read_bytes() == data


def test_a_failed_job_names_node_and_class_without_traceback(small_server: Server) -> None:
    from tests.api.server_harness import failing

    job = contract.job(submit(small_server, {"workflow": failing()}), 201)
    small_server.wait_job(job["id"])
    done = contract.job(small_server.request("GET", f"/api/v2/jobs/{job['id']}"))
    assert done["status"] == "failed" and done["outputs"] == []
    error = done["error"]
    assert error["code"] == "node_execution_error" and error["node_id"] == "2" and error["class_type"] == "StubFail"
    assert "stub failure" in error["message"] and error.get("traceback") is None
    assert "Traceback" not in json.dumps(done) and str(small_server.base) not in json.dumps(done)



def test_event_stream_of_a_job_deleted_from_the_queue_ends(small_server: Server) -> None:
    blocker = contract.job(submit(small_server, {"workflow": chain(steps=200, delay_ms=25)}), 201)
    queued = contract.job(submit(small_server, {"workflow": chain(value=2)}), 201)
    connection = http.client.HTTPConnection("127.0.0.1", small_server.port, timeout=30)
    try:
        connection.request("GET", queued["urls"]["events"], headers={"Host": f"127.0.0.1:{small_server.port}"})
        stream = connection.getresponse()
        assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"
        first = b""
        while not first.endswith(b"\n\n"):
            first += stream.read(1)
        assert b"event: status" in first and b'"queued"' in first
        assert small_server.request("POST", "/queue", {"delete": [queued["id"]]}).status == 200
        events = contract.sse_events(first + stream.read())
    finally:
        connection.close()
    assert events[-1][1] == "log" and events[-1][2]["message"] == "the job was deleted"
    contract.error(small_server.request("GET", f"/api/v2/jobs/{queued['id']}"), 404, "not_found")
    contract.job(small_server.request("POST", f"/api/v2/jobs/{blocker['id']}/cancel"))


def test_deleting_an_asset_is_refused_as_not_implemented(small_server: Server) -> None:
    created = contract.asset(upload_asset(small_server, "keepme.png", png_bytes((4, 3))), 201)
    contract.error(small_server.request("DELETE", f"/api/v2/assets/{created['id']}"), 501, "not_implemented")
    assert (small_server.base / "input" / "keepme.png").is_file()


def test_text_a_node_shows_is_an_output_asset_too(small_server: Server) -> None:
    graph = chain(value=3)
    graph["5"] = {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}}
    job = contract.job(submit(small_server, {"workflow": graph}), 201)
    small_server.wait_job(job["id"])
    done = contract.job(small_server.request("GET", f"/api/v2/jobs/{job['id']}"))
    assert done["status"] == "succeeded", done["error"]
    (text,) = [output for output in done["outputs"] if output["type"] == "text"]
    assert text["node_id"] == "5" and text["content_type"] == "text/plain" and text["size_bytes"] == 1
    content = small_server.request("GET", f"/api/v2/assets/{text['id']}/content")
    assert content.status == 200 and content.body == b"5"  # 3 plus 2 steps
    assert [output["type"] for output in done["outputs"]].count("image") == 1


def test_concurrent_submits_with_one_key_make_one_job(small_server: Server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    key = f"race-{uuid.uuid4().hex}"

    def post(value: int) -> Reply:
        return small_server.request("POST", "/api/v2/jobs", {"workflow": chain(value=value)},
                                    headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(post, range(6)))
    created = [reply for reply in replies if reply.status == 201]
    assert len(created) == 1, [reply.status for reply in replies]
    for reply in replies:
        if reply.status != 201:
            contract.error(reply, 422, "idempotency_key_reuse")
    small_server.wait_job(created[0].json()["id"])
