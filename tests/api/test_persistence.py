"""Queue and history in SQLite: `kill -9` mid-job, restart, corrupt database, bounded history (§C4 67–69, 72)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.api.server_harness import Server, chain

DATABASE = Path("user") / "latent_loom" / "jobs.sqlite3"


def test_kill_9_mid_job_then_restart(tmp_path: Path) -> None:
    server = Server(tmp_path / "base").start()
    try:
        done = server.post_prompt(chain(prefix="before")).json()["prompt_id"]
        assert server.wait_job(done)["status"] == "succeeded"
        running = server.post_prompt(chain(steps=1000, delay_ms=10)).json()["prompt_id"]
        pending = [server.post_prompt(chain(value=i)).json()["prompt_id"] for i in range(3)]
        pending.insert(0, server.post_prompt(chain(value=99), front=True).json()["prompt_id"])
        while server.request("GET", f"/api/jobs/{running}").json()["status"] != "running":
            time.sleep(0.02)
        order = [item[1] for item in server.request("GET", "/queue").json()["queue_pending"]]
        assert order == pending
        server.kill9()

        restarted = Server(tmp_path / "base")
        restarted.port = server.port
        restarted.start()
        try:
            job = restarted.request("GET", f"/api/jobs/{running}").json()
            assert job["status"] == "interrupted"  # not lost, not rerun, not reported done
            assert "stopped" in job["error"]["message"]
            entry = restarted.request("GET", f"/history/{running}").json()[running]
            assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
            assert restarted.request("GET", f"/history/{done}").json()[done]["status"]["completed"] is True
            assert restarted.request("GET", f"/api/jobs/{done}").json()["status"] == "succeeded"
            finished = [restarted.wait_job(job_id) for job_id in pending]
            assert all(result["status"] == "succeeded" for result in finished)
            starts = [result["started"] for result in finished]
            assert starts == sorted(starts)  # run in the order they were queued
            # New submissions get numbers after the restored ones.
            later = restarted.post_prompt(chain()).json()
            assert later["number"] > max(result["number"] for result in finished)
            restarted.wait_job(later["prompt_id"])
        finally:
            restarted.stop()
    finally:
        server.stop()


def test_corrupt_database_is_moved_aside_and_history_is_bounded(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / DATABASE).parent.mkdir(parents=True)
    (base / DATABASE).write_bytes(b"this is not a sqlite database" * 100)
    server = Server(base, "--history-size", "3").start()  # one start for both checks: starts are slow
    try:
        assert server.request("GET", "/queue").json() == {"queue_running": [], "queue_pending": []}
        backups = list((base / DATABASE).parent.glob("jobs.sqlite3.corrupt-*"))
        assert len(backups) == 1 and backups[0].read_bytes().startswith(b"this is not")
        assert "unreadable" in server.log()

        ids = [server.post_prompt(chain(value=i)).json()["prompt_id"] for i in range(6)]
        assert server.wait_job(ids[-1])["status"] == "succeeded"
        history = server.request("GET", "/history").json()
        assert list(history) == ids[-3:]
        assert server.request("GET", f"/api/jobs/{ids[0]}").status == 404
    finally:
        server.stop()
