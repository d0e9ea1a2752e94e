"""The operations log of a real server process: start-up, one line per job and per refusal, graceful stop."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from api import oplog
from tests.api.server_harness import Server, chain, failing


def _json_lines(text: str) -> list[dict[str, Any]]:
    entries = []
    for line in text.splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def _wait_for(server: Server, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = server.log()
        if needle in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not in the server log:\n{server.log()}")


def test_json_log_has_one_line_per_job_and_refusal_and_says_how_it_stopped(tmp_path: Path) -> None:
    server = Server(tmp_path / "base", "--log-format", "json").start()
    try:
        ok = server.post_prompt(chain(steps=2, prefix="logged"), client_id="client-a").json()["prompt_id"]
        server.wait_job(ok)
        again = server.post_prompt(chain(steps=2, prefix="logged"), client_id="client-a").json()["prompt_id"]
        server.wait_job(again)
        bad = server.post_prompt(failing(), client_id="client-b").json()["prompt_id"]
        server.wait_job(bad)
        refused = server.post_prompt({"1": {"class_type": "StubNumber", "inputs": {"value": "x"}}}, client_id="c")
        assert refused.status == 400
        assert server.request("POST", "/prompt", raw=b"{not json", headers={"Content-Type": "application/json"}
                              ).status == 400
        _wait_for(server, f'"prompt_id": "{bad}"')
        # A job that is still running when the stop signal arrives is interrupted and the queue stays on disk.
        slow = server.post_prompt(chain(steps=200, delay_ms=50, prefix="slow")).json()["prompt_id"]
        queued = server.post_prompt(chain(steps=1, value=9, prefix="later")).json()["prompt_id"]
        deadline = time.monotonic() + 20
        while server.request("GET", f"/api/jobs/{slow}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(20) == 0
    finally:
        server.stop()
    entries = _json_lines(server.log())
    by_event: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_event.setdefault(entry.get("event", ""), []).append(entry)

    started = by_event["started"][0]
    assert started["node_count"] > 0 and started["device"] == "cpu" and started["address"].startswith("http://")

    jobs = {entry["prompt_id"]: entry for entry in by_event["job"]}
    first = jobs[ok]
    assert first["status"] == "succeeded" and first["client_id"] == "client-a"
    assert first["nodes_executed"] == 3 and first["nodes_cached"] == 0
    assert len(first["outputs"]) == 1 and first["outputs"][0].startswith("logged_") and first["duration_s"] >= 0
    assert jobs[again]["nodes_cached"] >= 1  # the constant and the steps come from the cache
    failed = jobs[bad]
    assert failed["status"] == "failed" and failed["level"] == "WARNING"
    assert "StubFail" in failed["error"] and "stub failure" in failed["error"]
    assert jobs[slow]["status"] == "interrupted"
    assert queued not in jobs  # never started: it waits in the queue

    reasons = [entry["reason"] for entry in by_event["refused"]]
    assert len(reasons) == 2
    assert any("node 1" in reason and "value" in reason for reason in reasons)
    assert any("JSON" in reason or "json" in reason for reason in reasons)

    stopping = by_event["stopping"][0]
    assert stopping["prompt_id"] == slow and stopping["pending"] == 1
    assert "stopped" in by_event
    # Tracebacks are in the server log (with the prompt id), never in the job line itself.
    assert "Traceback" not in failed["message"] and "Traceback" not in failed["error"]


def test_text_log_quiet_and_verbose_levels(tmp_path: Path) -> None:
    quiet = Server(tmp_path / "quiet", "--quiet").start()
    try:
        quiet.wait_job(quiet.post_prompt(chain(steps=1, prefix="q")).json()["prompt_id"])
        quiet.post_prompt(failing())
    finally:
        quiet.stop()
    text = quiet.log()
    assert "Latent Loom: serving on" in text  # the stdout line scripts wait for stays
    assert " INFO " not in text and "succeeded in" not in text

    server = Server(tmp_path / "text").start()
    try:
        prompt_id = server.post_prompt(chain(steps=1, prefix="t"), client_id="me").json()["prompt_id"]
        server.wait_job(prompt_id)
        line = _wait_for(server, f"job {prompt_id}")
    finally:
        server.stop()
    job_lines = [row for row in line.splitlines() if f"job {prompt_id}" in row]
    assert len(job_lines) == 1
    assert "succeeded in" in job_lines[0] and "(client me)" in job_lines[0]
    assert "3 nodes executed, 0 cached" in job_lines[0]
    assert "outputs: t_0000" in job_lines[0]
    text = server.log()
    assert "Latent Loom started" in text and "stopping: no job running; 0 pending jobs" in text
    assert "Latent Loom stopped" in text


def test_rejection_reason_names_the_nodes() -> None:
    body = {"error": {"message": "Prompt outputs failed validation"},
            "node_errors": {"5": {"errors": [{"message": "m", "details": "width: expected INT, got 'x'"}]}}}
    assert oplog.rejection_reason(body) == "Prompt outputs failed validation: node 5: width: expected INT, got 'x'"
    assert oplog.output_names({"9": {"images": [{"filename": "a.png", "subfolder": "s", "type": "temp"}]}}) == [
        "s/a.png [temp]"
    ]
