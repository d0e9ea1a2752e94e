"""Fast in-process checks of the API's parts: job store, config refusals, JSON parsing, guards' helpers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from api.config import ConfigError, ServerConfig, config_from_args, is_loopback
from api.jsonbody import BadRequest, parse_json
from api.routes_files import clean_upload_name, content_disposition
from api.security import split_host
from api.store import JobStore


def _add(store: JobStore, job_id: str, number: float | None = None, front: bool = False) -> None:
    store.add(job_id, number, front, {"1": {"class_type": "X", "inputs": {}}}, {}, [], None)


def test_store_order_front_number_and_fifo(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", 100)
    _add(store, "a")
    _add(store, "b")
    _add(store, "c", front=True)
    _add(store, "d", number=1.5)
    _add(store, "e", number=1.5)
    assert [job.id for job in store.pending()] == ["c", "a", "d", "e", "b"]
    assert store.claim_next().id == "c"  # type: ignore[union-attr]
    assert store.remaining() == 5


def test_store_recovery_marks_running_interrupted_and_keeps_pending(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", 100)
    for name in "abc":
        _add(store, name)
    running = store.claim_next()
    assert running is not None and running.id == "a"
    reopened = JobStore(tmp_path / "jobs.db", 100)  # as after kill -9: the old connection never closed
    assert reopened.recovered_interrupted == ["a"]
    job = reopened.get("a")
    assert job is not None and job.status == "interrupted" and job.finished is not None
    assert [job.id for job in reopened.pending()] == ["b", "c"]
    assert [job.id for job in reopened.history()] == ["a"]
    assert reopened.get("a").history_entry()["status"]["completed"] is False  # type: ignore[union-attr]


def test_store_history_bound_and_paging(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", 3)
    for index in range(5):
        _add(store, f"j{index}")
        job = store.claim_next()
        assert job is not None
        store.finish(job.id, "succeeded", {}, [], None)
    assert [job.id for job in store.history()] == ["j2", "j3", "j4"]
    assert [job.id for job in store.history(max_items=1)] == ["j4"]
    assert [job.id for job in store.history(max_items=1, offset=1)] == ["j3"]
    assert store.get("j0") is None


def test_store_concurrent_adds_get_unique_numbers(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", 1000)
    threads = [threading.Thread(target=_add, args=(store, f"t{index}")) for index in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = [job.number for job in store.pending()]
    assert len(set(numbers)) == 50 and numbers == sorted(numbers)


def test_store_secrets_never_stored(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", 10)
    store.add("s", None, False, {}, {"api_key_comfy_org": "k", "auth_token_comfy_org": "t", "x": 1}, [], None)
    job = store.get("s")
    assert job is not None and job.extra_data == {"x": 1}
    raw = sqlite3.connect(tmp_path / "jobs.db").execute("SELECT extra_data FROM jobs").fetchone()[0]
    assert "k" not in raw.replace('"x"', "")


def test_store_corrupt_file_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "jobs.db"
    path.write_bytes(b"garbage" * 1000)
    store = JobStore(path, 10)
    assert store.pending() == []
    assert len(list(tmp_path.glob("jobs.db.corrupt-*"))) == 1
    assert "unreadable" in caplog.text


@pytest.mark.parametrize("argv,fragment", [
    (["--listen", "0.0.0.0"], "access token"),
    (["--listen", "::"], "access token"),
    (["--listen", "0.0.0.0", "--access-token", "short"], "16 characters"),
    (["--cors-origin", "*"], "refused"),
    (["--cors-origin", "http://x.example/"], "scheme://host"),
    (["--history-size", "0"], "history-size"),
    (["--port", "70000"], "port"),
])
def test_config_refusals(argv: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        config_from_args(argv)


def test_config_defaults_are_safe() -> None:
    config = config_from_args([])
    assert config.listen == ("127.0.0.1",) and config.access_token is None and config.cors_origins == ()
    exposed = config_from_args(["--listen", "--access-token", "x" * 20])
    assert exposed.listen == ("0.0.0.0", "::")
    assert ServerConfig().port == 8188
    assert is_loopback("::1") and is_loopback("127.0.0.2") and not is_loopback("0.0.0.0")


def test_parse_json_is_strict() -> None:
    with pytest.raises(BadRequest, match="duplicate"):
        parse_json(b'{"a": 1, "a": 2}')
    with pytest.raises(BadRequest, match="finite"):
        parse_json(b'{"a": Infinity}')
    with pytest.raises(BadRequest):
        parse_json(b"[" * 100_000)
    with pytest.raises(BadRequest, match="UTF-8"):
        parse_json(b"\xff\xfe")


def test_helpers() -> None:
    assert split_host("[::1]:8188") == ("::1", "8188")
    assert split_host("LocalHost:80") == ("localhost", "80")
    assert split_host("::1") == ("::1", None)
    assert clean_upload_name("../../a b.png") == "a b.png"
    assert clean_upload_name("x\r\ny.png") == "x__y.png"
    with pytest.raises(BadRequest):
        clean_upload_name("..")
    header = content_disposition("attachment", 'a"b\r\n<c>.html')
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="a_b__<c>.html"')
