"""One request path: a submitted job is parsed and validated once (at submission), not again when it runs."""

from __future__ import annotations

from typing import Any

import pytest

import graph.executor
from api.engine import EngineAdapter, PromptRejected
from api.store import Job
from graph.events import Event, JobSucceeded, NodeFailed
from tests.graph.graph_stubs import STUBS

PROMPT: dict[str, Any] = {
    "1": {"class_type": "Const", "inputs": {"value": 2}},
    "2": {"class_type": "Show", "inputs": {"x": ["1", 0], "label": ""}},
}


def job(job_id: str, prompt: dict[str, Any]) -> Job:
    return Job(job_id, 1, 1.0, "pending", prompt, {}, [], None, 0.0)


def run(engine: EngineAdapter, queued: Job) -> list[Event]:
    events: list[Event] = []
    engine.run(queued, events.append, engine.new_interrupt())
    return events


def test_a_prepared_job_runs_without_being_parsed_or_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = EngineAdapter(STUBS)
    api_prompt = engine.prepare(PROMPT, None, "j1")
    calls: list[str] = []
    original = graph.executor.analyse
    monkeypatch.setattr(graph.executor, "analyse", lambda *a, **k: calls.append("analyse") or original(*a, **k))
    monkeypatch.setattr(engine, "_load", lambda data: pytest.fail("parsed twice"))
    events = run(engine, job("j1", api_prompt))
    assert isinstance(events[-1], JobSucceeded) and calls == []


def test_a_job_read_back_after_a_restart_is_parsed_and_validated_when_it_runs() -> None:
    engine = EngineAdapter(STUBS)
    events = run(engine, job("from-the-store", PROMPT))
    assert isinstance(events[-1], JobSucceeded)
    broken = {"1": {"class_type": "Const", "inputs": {"value": "two"}}, "2": PROMPT["2"]}
    failure = run(engine, job("changed-meanwhile", broken))[-1]
    assert isinstance(failure, NodeFailed) and failure.exception_type == "ValidationError"


def test_a_refused_submission_is_not_kept_and_forget_drops_a_kept_one() -> None:
    engine = EngineAdapter(STUBS)
    with pytest.raises(PromptRejected) as refused:
        engine.prepare({"1": {"class_type": "Nope", "inputs": {}}}, None, "bad")
    assert refused.value.body["error"]["type"] == "invalid_prompt"
    assert set(refused.value.body) == {"error", "node_errors"}
    engine.prepare(PROMPT, None, "kept")
    engine.forget("kept")
    assert engine._prepared == {}
