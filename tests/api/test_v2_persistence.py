"""Comfy API v2 state in the one jobs database survives `kill -9`; token and Origin guards apply to v2."""

from __future__ import annotations

import http.client
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from comfy_sdk import Comfy
from comfy_sdk.exceptions import Unauthorized

from tests.api import v2_contract as contract
from tests.api.server_harness import Server, chain, png_bytes
from tests.api.test_v2_bad_input import upload_asset

TOKEN = "v2-test-token-0123456789"


def test_keys_and_assets_survive_kill9_and_guards_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = Server(tmp_path, token=TOKEN).start()
    monkeypatch.setenv("COMFY_BASE_URL", server.url)
    try:
        public = server.request("GET", "/api/v2/health", headers={"Authorization": ""})
        assert public.status == 200  # the liveness probe needs no token
        contract.error(server.request("GET", "/api/v2/jobs", headers={"Authorization": ""}), 401, "unauthorized")
        contract.error(server.request("GET", "/api/v2/health", headers={"Origin": "http://evil.example"}), 403,
                       "forbidden")
        contract.error(server.request("GET", "/api/v2/jobs", headers={"Host": "evil.example"}), 403, "forbidden")
        with Comfy(api_key=TOKEN) as client:  # the SDK's bearer token is this server's access token
            assert [summary.id for summary in client.list_jobs()] == []
        with Comfy(api_key="wrong-token-0123456789") as client, pytest.raises(Unauthorized):
            list(client.list_jobs())
        asset = contract.asset(upload_asset(server, "kept.png", png_bytes((6, 6))), 201)
        job = contract.job(server.request("POST", "/api/v2/jobs", {"workflow": chain(value=4)},
                                          headers={"Idempotency-Key": "persist-1"}), 201)
        server.wait_job(job["id"])
        done = contract.job(server.request("GET", f"/api/v2/jobs/{job['id']}"))
        output_id = done["outputs"][0]["id"]
        cut = contract.job(server.request("POST", "/api/v2/jobs", {"workflow": chain(steps=400, delay_ms=25)}), 201)
        deadline = time.monotonic() + 30
        while server.request("GET", f"/api/v2/jobs/{cut['id']}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.kill9()
        server.start()
        after_crash = contract.job(server.request("GET", f"/api/v2/jobs/{cut['id']}"))
        assert after_crash["status"] == "failed" and after_crash["error"]["code"] == "server_restarted"
        contract.error(server.request("POST", "/api/v2/jobs", {"workflow": chain(value=4)},
                                      headers={"Idempotency-Key": "persist-1"}), 422, "idempotency_key_reuse")
        assert contract.asset(server.request("GET", f"/api/v2/assets/{asset['id']}"))["hash"] == asset["hash"]
        assert server.request("HEAD", f"/api/v2/assets/by-hash/{asset['hash']}").status == 200
        again = contract.job(server.request("GET", f"/api/v2/jobs/{job['id']}"))
        assert again["status"] == "succeeded" and again["outputs"][0]["id"] == output_id
        assert server.request("GET", f"/api/v2/assets/{output_id}/content").status == 200
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "user" / "latent_loom" / "jobs.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "assets", "idempotency_keys"} <= tables  # one database, no second store


def test_open_event_streams_end_when_the_server_stops(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        job = contract.job(server.request("POST", "/api/v2/jobs", {"workflow": chain(steps=2000, delay_ms=25)}), 201)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", job["urls"]["events"], headers={"Host": f"127.0.0.1:{server.port}"})
        stream = connection.getresponse()
        assert stream.status == 200 and stream.read(6) == b"id: 0."
        assert server.process is not None
        started = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(20) == 0
        assert time.monotonic() - started < 15
        stream.read()  # the stream was ended, not left hanging
        connection.close()
    finally:
        server.stop()
