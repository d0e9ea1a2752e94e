"""Execution and caching with stub nodes: what runs, what is served from cache, events, errors, interrupts."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import graph_stubs
import pytest
from graph_stubs import CALLS, SAVED, STUBS

import graph.executor
from graph.cache import OutputCache
from graph.events import (
    Event,
    JobInterrupted,
    JobStarted,
    JobSucceeded,
    NodeDone,
    NodeFailed,
    NodesCached,
    NodeStarted,
    Progress,
)
from graph.executor import Executor, HiddenValues, InterruptFlag, JobResult
from graph.formats import load_workflow, to_api_prompt
from graph.workflow import Workflow

DATA = Path(__file__).parent / "data"
DEFAULT = json.loads((DATA / "default_api.json").read_text())


@pytest.fixture(autouse=True)
def fresh_stubs() -> Iterator[None]:
    graph_stubs.reset()
    yield
    graph_stubs.reset()


class Runner:
    """An executor plus the events of its last run."""

    def __init__(self, max_bytes: int = 2**30) -> None:
        self.executor = Executor(STUBS, cache=OutputCache(max_bytes=max_bytes))
        self.events: list[Event] = []
        self.jobs = 0

    def run(self, workflow: Workflow | dict[str, Any], **kwargs: Any) -> JobResult:
        if isinstance(workflow, dict):
            workflow = load_workflow(copy.deepcopy(workflow), STUBS)
        CALLS.clear()
        self.events = []
        self.jobs += 1
        kwargs.setdefault("interrupt", InterruptFlag())
        kwargs.setdefault("emit", self.events.append)
        return self.executor.run(workflow, job_id=f"job{self.jobs}", **kwargs)

    def started(self) -> list[str]:
        return [e.node_id for e in self.events if isinstance(e, NodeStarted)]


def with_inputs(prompt: dict[str, Any], node_id: str, **inputs: Any) -> dict[str, Any]:
    prompt = copy.deepcopy(prompt)
    prompt[node_id]["inputs"].update(inputs)
    return prompt


def test_first_run_executes_everything_in_order_with_events() -> None:
    runner = Runner()
    result = runner.run(DEFAULT, hidden=HiddenValues(extra_pnginfo={"workflow": {"nodes": []}}))
    assert result.status == "succeeded"
    assert sorted(CALLS) == sorted(
        [
            "CheckpointLoaderSimple",
            "CLIPTextEncode",
            "CLIPTextEncode",
            "EmptyLatentImage",
            "KSampler",
            "VAEDecode",
            "SaveImage",
        ]
    )
    assert result.outputs == {"9": {"images": [{"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}]}}
    events = runner.events
    assert events[0] == JobStarted("job1") and events[1] == NodesCached("job1", ())
    assert events[-1] == JobSucceeded("job1")
    assert [e.value for e in events if isinstance(e, Progress)] == [1, 2, 3]
    assert all(e.node_id == "3" and e.total == 3 for e in events if isinstance(e, Progress))
    done = [e for e in events if isinstance(e, NodeDone)]
    assert done[-1] == NodeDone("job1", "9", result.outputs["9"])
    order = runner.started()
    assert order.index("4") < order.index("3") < order.index("8") < order.index("9")
    # hidden inputs: the API prompt and the extra PNG info
    assert SAVED[0]["prompt"] == to_api_prompt(load_workflow(copy.deepcopy(DEFAULT), STUBS))
    assert SAVED[0]["extra_pnginfo"] == {"workflow": {"nodes": []}}
    assert SAVED[0]["images"].startswith("decoded(sampled(model(sd15.safetensors),156680208700286,20,8.0,")


def test_identical_rerun_executes_only_output_nodes() -> None:
    runner = Runner()
    runner.run(DEFAULT)
    result = runner.run(DEFAULT)
    assert CALLS == ["SaveImage"]
    assert result.executed == ["9"]
    assert sorted(result.cached) == ["3", "4", "5", "6", "7", "8"]
    assert runner.events[1] == NodesCached("job2", tuple(result.cached))
    assert result.outputs["9"]["images"][0]["filename"] == "ComfyUI_00001_.png"


def test_changing_one_widget_reruns_that_node_and_its_descendants() -> None:
    runner = Runner()
    runner.run(DEFAULT)
    runner.run(with_inputs(DEFAULT, "3", seed=7))
    assert CALLS == ["KSampler", "VAEDecode", "SaveImage"]
    runner.run(with_inputs(DEFAULT, "7", text="ugly"))
    assert CALLS == ["CLIPTextEncode", "KSampler", "VAEDecode", "SaveImage"]


def test_positions_titles_and_node_ids_do_not_change_keys() -> None:
    runner = Runner()
    runner.run(DEFAULT)
    moved = load_workflow(copy.deepcopy(DEFAULT), STUBS)
    for node in moved:
        node.ui = {"pos": [123, 456], "title": f"renamed {node.node_id}"}
    moved.ui = {"groups": [{"title": "g", "bounding": [0, 0, 1, 1]}], "view": {"x": 9, "y": 9, "zoom": 2}}
    runner.run(moved)
    assert CALLS == ["SaveImage"]
    renumbered = {}
    for node_id, node in DEFAULT.items():
        entry = copy.deepcopy(node)
        for name, value in entry["inputs"].items():
            if isinstance(value, list):
                entry["inputs"][name] = [f"n{value[0]}", value[1]]
        renumbered[f"n{node_id}"] = entry
    runner.run(renumbered)
    assert CALLS == ["SaveImage"]


def test_alternating_two_workflows_recomputes_nothing_the_second_time() -> None:
    runner = Runner()
    first, second = DEFAULT, with_inputs(DEFAULT, "3", seed=2, steps=30)
    runner.run(first)
    runner.run(second)
    assert CALLS == ["KSampler", "VAEDecode", "SaveImage"]
    runner.run(first)
    assert CALLS == ["SaveImage"]
    runner.run(second)
    assert CALLS == ["SaveImage"]


def test_byte_budget_evicts_across_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stub nodes cost next to nothing and their measured times are noise: with every cost equal, the governor
    # evicts least recently used first, which makes this test deterministic (cost order: tests/graph/test_graph_memory).
    monkeypatch.setattr(graph.executor, "time", SimpleNamespace(perf_counter=lambda: 0.0))
    # Each entry costs a few hundred bytes (values + overhead); leave room for about one workflow's worth.
    runner = Runner(max_bytes=3_000)
    runner.run(DEFAULT)
    runner.run(with_inputs(DEFAULT, "3", seed=2))
    runner.run(with_inputs(DEFAULT, "3", seed=3))
    runner.run(DEFAULT)  # seed 1's sampler output was evicted meanwhile: it runs again
    assert "KSampler" in CALLS
    assert runner.executor.cache.total_bytes <= 3_000
    runner.executor.cache.clear()
    runner.run(DEFAULT)
    assert "CheckpointLoaderSimple" in CALLS


def test_node_error_fails_the_job_keeps_the_cache_and_the_next_job_runs() -> None:
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 3}},
        "2": {"class_type": "Boom", "inputs": {"x": ["1", 0], "fail": True}},
        "3": {"class_type": "Show", "inputs": {"x": ["2", 0], "label": ""}},
    }
    runner = Runner()
    result = runner.run(prompt)
    assert result.status == "failed"
    error = result.error
    assert error is not None
    assert (error.node_id, error.class_type, error.message, error.exception_type) == (
        "2",
        "Boom",
        "boom at 3",
        "ValueError",
    )
    assert error.inputs == {"x": "3", "fail": "True"}
    assert any("raise ValueError" in line for line in error.traceback)
    failed = [e for e in runner.events if isinstance(e, NodeFailed)]
    assert len(failed) == 1 and failed[0].node_id == "2" and failed[0].message == "boom at 3"
    assert not any(isinstance(e, JobSucceeded) for e in runner.events)
    fixed = with_inputs(prompt, "2", fail=False)
    result = runner.run(fixed)
    assert result.status == "succeeded" and CALLS == ["Boom", "Show"]  # Const came from the cache
    assert result.outputs["3"] == {"value": [3], "label": [""]}


def test_a_node_returning_the_wrong_record_fails_cleanly() -> None:
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 3}},
        "2": {"class_type": "Liar", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "Show", "inputs": {"x": ["2", 0], "label": ""}},
    }
    result = Runner().run(prompt)
    assert result.status == "failed" and result.error is not None
    assert result.error.exception_type == "TypeError"
    assert result.error.message == "node Liar returned int, expected its output record Number"


def test_interrupt_between_nodes_and_inside_a_node() -> None:
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 3}},
        "2": {"class_type": "Slow", "inputs": {"x": ["1", 0], "steps": 50}},
        "3": {"class_type": "Show", "inputs": {"x": ["2", 0], "label": ""}},
    }
    runner = Runner()
    flag = InterruptFlag()
    flag.set()
    result = runner.run(prompt, interrupt=flag)
    assert result.status == "interrupted" and CALLS == [] and result.interrupted_at == "1"
    assert runner.events[-1] == JobInterrupted("job1", "1")

    flag = InterruptFlag()

    def emit(event: Event) -> None:
        runner.events.append(event)
        if isinstance(event, Progress) and event.value == 5:
            flag.set()  # the user presses "stop" during step 5

    result = runner.run(prompt, interrupt=flag, emit=emit)
    assert result.status == "interrupted" and result.interrupted_at == "2"
    assert [e.value for e in runner.events if isinstance(e, Progress)] == [1, 2, 3, 4, 5]
    assert runner.events[-1] == JobInterrupted("job2", "2")
    flag.clear()
    result = runner.run(prompt, interrupt=flag)
    assert result.status == "succeeded" and CALLS == ["Slow", "Show"]


def test_a_broken_event_listener_does_not_break_the_job() -> None:
    def emit(event: Event) -> None:
        raise RuntimeError("socket closed")

    result = Runner().run(DEFAULT, emit=emit)
    assert result.status == "succeeded" and "9" in result.outputs


def test_nondeterministic_nodes_and_their_descendants_always_run() -> None:
    prompt = {
        "1": {"class_type": "Random", "inputs": {}},
        "2": {"class_type": "Inc", "inputs": {"x": ["1", 0], "by": 1}},
        "3": {"class_type": "Show", "inputs": {"x": ["2", 0], "label": ""}},
    }
    runner = Runner()
    runner.run(prompt)
    runner.run(prompt)
    assert CALLS == ["Random", "Inc", "Show"]


def test_editing_a_read_file_reruns_its_loader() -> None:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png", "upload": "image"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    runner = Runner()
    runner.run(prompt)
    runner.run(prompt)
    assert CALLS == ["PreviewImage"]
    graph_stubs.FILE_VERSIONS["example.png"] = "v2"
    runner.run(prompt)
    assert CALLS == ["LoadImage", "PreviewImage"]


def test_only_ancestors_of_outputs_or_targets_run() -> None:
    prompt = copy.deepcopy(DEFAULT)
    prompt["20"] = {"class_type": "Const", "inputs": {"value": 1}}
    prompt["21"] = {"class_type": "Inc", "inputs": {"x": ["20", 0], "by": 1}}
    runner = Runner()
    result = runner.run(prompt)
    assert "Const" not in CALLS and result.skipped == ["20", "21"]
    result = runner.run(prompt, targets=["21"])
    assert CALLS == ["Const", "Inc"] and result.outputs == {}
    result = runner.run(prompt, targets=["21"])
    assert CALLS == [] and result.cached == ["20", "21"]  # a non-output target is served from the cache
    result = runner.run(prompt, targets=["6"])
    assert CALLS == [] and "SaveImage" not in CALLS


def test_unique_id_and_float_widgets() -> None:
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 2}},
        "2": {
            "class_type": "Scale",
            "inputs": {"x": ["1", 0], "factor": 3, "mode": "fast", "strength": 1, "flag": False},
        },
        "3": {"class_type": "Show", "inputs": {"x": ["2", 0], "label": ""}},
    }
    result = Runner().run(prompt)
    assert result.outputs["3"]["value"] == [6]


def test_validation_failure_at_run_time_runs_nothing() -> None:
    runner = Runner()
    result = runner.run(with_inputs(DEFAULT, "3", steps=0))
    assert result.status == "failed" and CALLS == []
    assert result.issues[0].type == "value_smaller_than_min"
    failed = [e for e in runner.events if isinstance(e, NodeFailed)]
    assert failed[0].node_id == "3" and failed[0].exception_type == "ValidationError"


def test_muted_bypassed_reroute_primitive_workflow_runs() -> None:
    workflow = load_workflow(json.loads((DATA / "features_ui_v1.json").read_text()), STUBS)
    result = Runner().run(workflow)
    assert result.status == "succeeded"
    assert result.outputs["16"] == {"value": [3], "label": ["out"]}  # Inc (+5) was bypassed
    assert "Inc" not in CALLS and CALLS.count("PreviewImage") == 1  # the muted preview did not run
    assert ",777," in SAVED[0]["images"]  # the primitive node's seed


def test_thousand_node_chain_runs_and_reruns_from_cache() -> None:
    prompt: dict[str, Any] = {"0": {"class_type": "Const", "inputs": {"value": 0}}}
    for i in range(1, 1000):
        prompt[str(i)] = {"class_type": "Inc", "inputs": {"x": [str(i - 1), 0], "by": 1}}
    prompt["out"] = {"class_type": "Show", "inputs": {"x": ["999", 0], "label": ""}}
    runner = Runner()
    workflow = load_workflow(prompt, STUBS)
    started = time.perf_counter()
    result = runner.run(workflow)
    assert result.status == "succeeded" and result.outputs["out"]["value"] == [999]
    assert len(CALLS) == 1001
    result = runner.run(workflow)
    assert CALLS == ["Show"] and len(result.cached) == 1000
    assert time.perf_counter() - started < 5.0  # generous: the benchmark measures this properly


def test_values_arriving_by_link_into_widgets_are_checked_before_the_node_runs() -> None:
    prompt: dict[str, Any] = {
        "1": {"class_type": "Const", "inputs": {"value": 2}},
        "2": {"class_type": "PrimitiveInt", "inputs": {"value": 0}},
        "3": {
            "class_type": "Scale",
            "inputs": {"x": ["1", 0], "factor": ["2", 0], "mode": "fast", "strength": 0.5, "flag": False},
        },
        "4": {"class_type": "Show", "inputs": {"x": ["3", 0], "label": ""}},
    }
    result = Runner().run(prompt)
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "3" and "Scale" not in CALLS
    assert result.error.exception_type == "graph.executor.InvalidLinkedValue"
    assert result.error.message == "node 3 (Scale) input 'factor': value 0 is smaller than the minimum 1"
    prompt["2"]["inputs"]["value"] = 4
    assert Runner().run(prompt).outputs["4"]["value"] == [8]


def test_a_failing_fingerprint_reruns_the_loader_and_its_error_is_structured(monkeypatch: pytest.MonkeyPatch) -> None:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "cat.png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    runner = Runner()
    assert runner.run(prompt).status == "succeeded"
    monkeypatch.delitem(graph_stubs.FILE_VERSIONS, "cat.png")  # the file vanished after validation listed it
    result = runner.run(prompt)
    assert CALLS == ["LoadImage"]  # not served from cache: its fingerprint could not be taken
    assert result.status == "failed" and result.error is not None
    assert result.error.node_id == "1" and result.error.exception_type == "KeyError"


def test_a_muted_target_is_refused() -> None:
    workflow = load_workflow(copy.deepcopy(DEFAULT), STUBS)
    workflow["8"].mode = "muted"
    result = Runner().run(workflow, targets=["8"])
    assert result.status == "failed" and result.issues[0].type == "invalid_target"


