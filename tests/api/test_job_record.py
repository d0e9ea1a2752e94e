"""A job's events → its websocket messages and its record, in one place (api/messages.JobRecord)."""

from __future__ import annotations

from typing import Any

from api.messages import SEE_LOG, JobRecord
from graph.events import (
    JobInterrupted,
    JobStarted,
    JobSucceeded,
    NodeDone,
    NodeFailed,
    NodesCached,
    NodeStarted,
    Progress,
)

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
        JobStarted("p1"),
        NodesCached("p1", ("1",)),
        NodeStarted("p1", "2"),
        Progress("p1", "2", 1, 4, preview="not sent as a message"),
        NodeDone("p1", "2", None),
        NodeStarted("p1", "3"),
        NodeDone("p1", "3", ui),
        JobSucceeded("p1"),
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
    assert JobRecord.preview(Progress("p1", "2", 1, 4, preview="img")) == "img"
    assert JobRecord.preview(NodeStarted("p1", "2")) is None


def test_a_failed_node_is_reported_without_traceback_or_path() -> None:
    job = record()
    failure = NodeFailed(
        "p1", "2", "ImageInvert", "cannot open /secret/base/input/x.png", "builtins.OSError",
        ("Traceback (most recent call last):\n", '  File "/secret/x.py"\n'), {"image": "Tensor(shape=(1, 2))"},
    )  # fmt: skip
    assert sent(job, JobStarted("p1"), NodeStarted("p1", "2"), failure) == [
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
    sent(job, JobStarted("p1"), NodeStarted("p1", "3"), JobInterrupted("p1", None))
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
