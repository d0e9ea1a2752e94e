"""Fast in-process checks of the API's parts: job store, config refusals, JSON parsing, guards' helpers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.config import ConfigError, ServerConfig, config_from_args, is_loopback
from api.jsonbody import (
    BadRequest,
    error_response,
    json_error,
    json_type_name,
    non_finite_path,
    parse_json,
    read_json,
    read_json_object,
)
from api.routes_files import clean_upload_name, content_disposition
from api.security import split_host
from api.store import DuplicateJobId, JobStore


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


# ---------------------------------------------------------------------------------------- queue and history


STORE_PROMPT = {"1": {"class_type": "X", "inputs": {}}}


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.db", 3)


def add_job(store: JobStore, job_id: str, number: float | None = None) -> None:
    store.add(job_id, number, False, STORE_PROMPT, {"client_id": "c"}, ["1"], "c")


def finish(store: JobStore, job_id: str) -> None:
    claimed = store.claim_next()
    assert claimed is not None and claimed.id == job_id and claimed.status == "running" and claimed.started
    store.finish(job_id, "succeeded", {"1": {"images": []}}, [["execution_success", {}]], None)


def test_counts_positions_and_running(store: JobStore) -> None:
    for job_id in ("a", "b", "c"):
        add_job(store, job_id)
    assert store.pending_count() == 3 and store.remaining() == 3 and store.running() == []
    jobs = {job.id: job for job in store.pending()}
    assert [store.queue_position(jobs[j]) for j in ("a", "b", "c")] == [0, 1, 2]
    assert store.claim_next().id == "a"  # type: ignore[union-attr]
    assert [job.id for job in store.running()] == ["a"] and store.remaining() == 3 and store.pending_count() == 2
    with pytest.raises(DuplicateJobId):
        add_job(store, "b")
    assert store.next_number() == 4


def test_delete_cancel_and_clear_pending(store: JobStore) -> None:
    for job_id in ("a", "b", "c", "d"):
        add_job(store, job_id)
    assert store.delete_pending(["a", "nope"]) == ["a"] and store.get("a") is None
    assert store.cancel_pending("b") is True and store.cancel_pending("b") is False
    cancelled = store.get("b")
    assert cancelled is not None and cancelled.status == "interrupted" and cancelled.finished is not None
    assert cancelled.error == {"message": "cancelled"}
    reason = {"prompt_id": "b", "reason": "cancelled before it started"}
    assert cancelled.messages == [["execution_interrupted", reason]]
    assert [job.id for job in store.history()] == ["b"]
    assert store.clear_pending() == 2 and store.pending() == []


def test_history_paging_deletion_bound_and_recent(store: JobStore) -> None:
    for job_id in ("a", "b", "c", "d", "e"):
        add_job(store, job_id)
        finish(store, job_id)
    assert [job.id for job in store.history()] == ["c", "d", "e"]  # bounded at 3, oldest first
    assert [job.id for job in store.history(2)] == ["d", "e"]
    assert [job.id for job in store.history(1, 1)] == ["d"]
    assert [job.id for job in store.history(None, 2)] == ["e"]
    entry = store.history()[0]
    assert entry.outputs == {"1": {"images": []}} and entry.messages == [["execution_success", {}]]
    assert entry.extra_data == {"client_id": "c"} and entry.targets == ["1"] and entry.client_id == "c"
    store.delete_history(["d"])
    assert [job.id for job in store.history()] == ["c", "e"]
    add_job(store, "f")
    assert [job.id for job in store.recent(2)] == ["f", "e"]
    store.delete_history(["f"])  # pending: not history, kept
    assert store.get("f") is not None
    store.clear_history()
    assert store.history() == [] and [job.id for job in store.recent(10)] == ["f"]


# ---------------------------------------------------------------------------------------- the request reader


def ask(body: bytes | None, *, limit: int = 64, allow_empty: bool = True, non_finite: bool = False,
        as_object: bool = True) -> tuple[int, Any]:  # fmt: skip
    async def handler(request: web.Request) -> web.Response:
        try:
            if as_object:
                data: Any = await read_json_object(request, limit, allow_empty=allow_empty, non_finite=non_finite)
            else:
                data = await read_json(request, limit, non_finite=non_finite)
        except BadRequest as error:
            return error_response(error)
        return web.json_response({"got": repr(data)})

    async def scenario() -> tuple[int, Any]:
        app = web.Application()
        app.router.add_post("/", handler)
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/", data=body, headers={"Content-Type": "application/json"})
            return response.status, await response.json()

    return asyncio.run(scenario())


def test_objects_empty_bodies_and_other_json() -> None:
    assert ask(b'{"a": [1, 2.5]}') == (200, {"got": "{'a': [1, 2.5]}"})
    assert ask(b"") == (200, {"got": "{}"})
    assert ask(b"  \n") == (200, {"got": "{}"})
    assert ask(b"[1]", as_object=False) == (200, {"got": "[1]"})
    assert ask(b"", as_object=False) == (200, {"got": "None"})
    assert ask(b'{"x": NaN}', non_finite=True) == (200, {"got": "{'x': nan}"})


@pytest.mark.parametrize(
    ("body", "kwargs", "status", "error_type", "message"),
    [
        (b"", {"allow_empty": False}, 400, "invalid_body", "the body must be a JSON object, got null"),
        (b"[1, 2]", {}, 400, "invalid_body", "the body must be a JSON object, got an array"),
        (b'"text"', {}, 400, "invalid_body", "the body must be a JSON object, got a string"),
        (b'{"a": 1, "a": 2}', {}, 400, "invalid_json", "duplicate key 'a' in a JSON object"),
        (b'{"x": NaN}', {}, 400, "invalid_json", "NaN is not valid JSON (numbers must be finite)"),
        (b"x" * 65, {}, 413, "too_large", "the body is 65 bytes; the limit is 64"),
    ],
)
def test_refusals_are_comfyui_error_bodies(
    body: bytes, kwargs: dict[str, Any], status: int, error_type: str, message: str
) -> None:
    got_status, got = ask(body, **kwargs)
    assert got_status == status
    details = {"details": got["error"]["details"]} if "details" in got["error"] else {}  # the decoder's words
    assert got == {"error": {"type": error_type, "message": message, **details, "extra_info": {},
                             "code": error_type}, "node_errors": {}}  # fmt: skip


def test_a_body_without_a_declared_length_is_cut_at_the_limit() -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 20

    async def handler(request: web.Request) -> web.Response:
        try:
            await read_json(request, 64)
        except BadRequest as error:
            return error_response(error)
        return web.json_response({})

    async def scenario() -> tuple[int, Any]:
        app = web.Application()
        app.router.add_post("/", handler)
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/", data=chunks())
            return response.status, await response.json()

    status, body = asyncio.run(scenario())
    assert status == 413 and body["error"]["message"] == "the body is larger than the limit of 64 bytes"


def test_helpers_name_types_and_find_non_finite_numbers() -> None:
    values: list[Any] = [None, True, 3, 2.5, "s", [], {}]
    assert [json_type_name(value) for value in values] == [
        "null", "a boolean", "a number", "a number", "a string", "an array", "an object",
    ]  # fmt: skip
    assert non_finite_path({"a": [1, {"b": float("inf")}]}) == "a[1].b"
    assert non_finite_path([float("nan")]) == "[0]" and non_finite_path(float("nan")) == "(the value)"
    assert non_finite_path({"a": [1, 2.5], "b": "x"}) is None
    error = BadRequest(404, "not_found", "no such job", "job 7")
    assert (error.status, error.error_type, error.message, error.details, str(error)) == (
        404, "not_found", "no such job", "job 7", "no such job",
    )  # fmt: skip
    response = json_error(409, "conflict", "taken", headers={"X-Why": "test"})
    assert response.status == 409 and response.headers["X-Why"] == "test"
    assert json.loads(response.text or "") == {
        "error": {"type": "conflict", "message": "taken", "extra_info": {}, "code": "conflict"},
        "node_errors": {},
    }


def test_history_entries_and_queue_items_in_comfyuis_shape(store: JobStore) -> None:
    add_job(store, "a", number=2.0)
    add_job(store, "b", number=2.5)
    finish(store, "a")
    job = store.get("a")
    assert job is not None and job.queue_item() == [2, "a", STORE_PROMPT, {"client_id": "c"}, ["1"]]
    assert job.history_entry() == {
        "prompt": [2, "a", STORE_PROMPT, {"client_id": "c"}, ["1"]],
        "outputs": {"1": {"images": []}},
        "status": {"status_str": "success", "completed": True, "messages": [["execution_success", {}]]},
        "meta": {"1": {"node_id": "1", "display_node": "1", "parent_node": None, "real_node_id": "1"}},
    }
    claimed = store.claim_next()
    assert claimed is not None and claimed.queue_item()[0] == 2.5
    store.finish("b", "failed", {}, [], {"message": "boom"})
    failed = store.get("b")
    assert failed is not None
    entry = failed.history_entry()
    assert entry["status"] == {"status_str": "error", "completed": False, "messages": []}
    assert entry["outputs"] == {} and entry["meta"] == {}
