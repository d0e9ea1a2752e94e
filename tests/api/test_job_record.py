"""A job's events → its websocket messages and its record, in one place (api/messages.JobRecord)."""

from __future__ import annotations

from typing import Any

import pytest

from api.messages import SEE_LOG, JobRecord
from graph import events

TYPES = {"1": "LoadImage", "2": "ImageInvert", "3": "SaveImage"}


def record() -> JobRecord:
    return JobRecord("p1", lambda node: TYPES.get(node, ""))


def sent(job: JobRecord, *events: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(message.type, message.data) for event in events for message in job.apply(event)]


def test_a_successful_job_sends_comfyui_messages_and_records_outputs_and_history() -> None:
    job = record()
    ui = {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}
    messages = sent(
        job,
        events.JobStarted("p1"),
        events.NodesCached("p1", ("1",)),
        events.NodeStarted("p1", "2"),
        events.Progress("p1", "2", 1, 4, preview="not sent as a message"),
        events.NodeDone("p1", "2", None),
        events.NodeStarted("p1", "3"),
        events.NodeDone("p1", "3", ui),
        events.JobSucceeded("p1"),
    )
    assert [kind for kind, _ in messages] == [
        "execution_start", "execution_cached", "executing", "progress", "executing", "executed",
    ]  # fmt: skip
    assert messages[3][1] == {"value": 1, "max": 4, "prompt_id": "p1", "node": "2"}
    assert messages[5][1] == {"node": "3", "display_node": "3", "output": ui, "prompt_id": "p1"}
    assert job.held[0][0] == "execution_success"  # sent only once the record is stored
    assert job.final_status() == "succeeded" and job.error is None
    assert job.outputs == {"3": ui}
    assert [kind for kind, _ in job.history] == ["execution_start", "execution_cached", "execution_success"]
    assert job.executed == ["1", "2", "3"] and job.ran == {"2", "3"} and job.cached == 1
    assert JobRecord.preview(events.Progress("p1", "2", 1, 4, preview="img")) == "img"
    assert JobRecord.preview(events.NodeStarted("p1", "2")) is None


def test_a_failed_node_is_reported_without_traceback_or_path() -> None:
    job = record()
    failure = events.NodeFailed(
        "p1", "2", "ImageInvert", "cannot open /secret/base/input/x.png", "builtins.OSError",
        ("Traceback (most recent call last):\n", '  File "/secret/x.py"\n'), {"image": "Tensor(shape=(1, 2))"},
    )  # fmt: skip
    assert sent(job, events.JobStarted("p1"), events.NodeStarted("p1", "2"), failure) == [
        ("execution_start", job.history[0][1]),
        ("executing", {"node": "2", "display_node": "2", "prompt_id": "p1"}),
    ]
    (kind, data), = job.held
    assert kind == "execution_error" and job.final_status() == "failed" and job.error == data
    assert data["node_id"] == "2" and data["node_type"] == "ImageInvert"
    assert data["exception_type"] == "OSError" and data["traceback"] == []
    assert data["exception_message"].endswith(SEE_LOG) and "/secret" not in data["exception_message"]
    assert data["current_inputs"] == {"image": "Tensor(shape=(1, 2))"}


def test_an_interrupt_names_the_running_node_and_engine_failures_fail_the_job() -> None:
    job = record()
    sent(job, events.JobStarted("p1"), events.NodeStarted("p1", "3"), events.JobInterrupted("p1", None))
    assert job.final_status() == "interrupted"
    assert job.held[0][1]["node_id"] == "3" and job.held[0][1]["node_type"] == "SaveImage"
    broken = record()
    broken.fail_outside_nodes(RuntimeError("registry changed"))
    assert broken.final_status() == "failed"
    assert broken.history[0][0] == "execution_error" and broken.held[0][0] == "execution_error"
    silent = record()
    assert silent.final_status() == "failed" and silent.error == {
        "message": "the engine ended the job without an outcome"
    }


def without_timestamp(data: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(data.pop("timestamp"), int)
    return data


def test_every_field_of_the_terminal_and_cached_messages() -> None:
    job = record()
    cached = job.apply(events.NodesCached("p1", ("1", "2")))
    assert [m.type for m in cached] == ["execution_cached"] and cached[0].outcome is None and cached[0].output is None
    assert without_timestamp(dict(cached[0].data)) == {"nodes": ["1", "2"], "prompt_id": "p1"}
    assert job.cached == 2 and job.executed == ["1", "2"] and job.history[0][0] == "execution_cached"
    job.apply(events.NodesCached("p1", ()))
    assert job.cached == 2  # counted, not replaced
    job.apply(events.NodeStarted("p1", "3"))
    job.apply(events.JobInterrupted("p1", "2"))
    (kind, data), = job.held
    assert kind == "execution_interrupted" and job.error is data
    assert without_timestamp(dict(data)) == {
        "prompt_id": "p1", "node_id": "2", "node_type": "ImageInvert", "executed": ["1", "2"],
    }  # fmt: skip
    before_any = record()
    before_any.apply(events.JobInterrupted("p1", None))
    assert before_any.held[0][1]["node_id"] is None and before_any.held[0][1]["node_type"] is None

    broken = record()
    broken.apply(events.NodesCached("p1", ("1",)))
    broken.fail_outside_nodes(RuntimeError("registry changed"))
    (kind, failure), = broken.held
    assert kind == "execution_error" and broken.error is failure and broken.history[-1] == ["execution_error", failure]
    assert without_timestamp(dict(failure)) == {
        "prompt_id": "p1", "node_id": None, "node_type": None, "executed": ["1"],
        "exception_message": "RuntimeError: registry changed" + SEE_LOG, "exception_type": "RuntimeError",
        "traceback": [], "current_inputs": {}, "current_outputs": ["1"],
    }  # fmt: skip
    assert broken.status == "failed"


def test_success_and_done_messages_carry_exactly_what_comfyui_sends() -> None:
    job = record()
    (start,) = job.apply(events.JobStarted("p1"))
    assert start.type == "execution_start" and without_timestamp(dict(start.data)) == {"prompt_id": "p1"}
    assert job.apply(events.NodeDone("p1", "2", {})) == []  # nothing to show: no `executed`
    assert job.outputs == {} and job.executed == ["2"]
    assert job.apply(events.JobSucceeded("p1")) == []
    (kind, data), = job.held
    assert kind == "execution_success" and without_timestamp(dict(data)) == {"prompt_id": "p1"}
    assert job.status == "succeeded" and job.error is None


def test_a_node_failure_is_logged_whole_with_its_prompt_id(caplog: pytest.LogCaptureFixture) -> None:
    job = record()
    failure = events.NodeFailed("p1", "2", "ImageInvert", "bad pixels", "ValueError", ("Trace\n", "  line\n"), {})
    with caplog.at_level("ERROR", logger="api.messages"):
        job.apply(failure)
    (entry,) = caplog.records
    assert entry.getMessage() == "job p1: node 2 (ImageInvert) raised ValueError: bad pixels"
    assert entry.prompt_id == "p1" and entry.traceback == "Trace\n  line"  # type: ignore[attr-defined]
