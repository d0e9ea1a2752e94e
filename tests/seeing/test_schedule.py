"""The schedule route returns the σ values a sampler really consumed (recorded by an observer during a real run
of KSampler on the tiny checkpoint, not recomputed), with consistent derived columns; bad fields are refused."""

from __future__ import annotations

import math
from typing import Any

import pytest

import folders
from diffusion.sampling.observe import ScheduleRecorder, observing
from graph.executor import Executor, InterruptFlag
from graph.formats import load_workflow
from graph.registry import REGISTRY
from nodes import load_catalog
from tests.api.server_harness import Server
from tests.seeing.workflows import txt2img

CASES: list[dict[str, Any]] = [
    {"scheduler": "karras", "sampler_name": "euler", "steps": 3, "denoise": 1.0},
    {"scheduler": "normal", "sampler_name": "dpm_2", "steps": 3, "denoise": 0.6},  # discard-penultimate + denoise
    {"scheduler": "sgm_uniform", "sampler_name": "euler", "steps": 4, "denoise": 1.0, "sampling": "v_prediction",
     "zsnr": True},  # ModelSamplingDiscrete changes the σ table
    {"scheduler": "simple", "sampler_name": "lcm", "steps": 2, "denoise": 1.0, "sampling": "lcm"},
]


def consumed_sigmas(case: dict[str, Any]) -> list[float]:
    load_catalog()
    prompt = txt2img(steps=case["steps"], sampler=case["sampler_name"], scheduler=case["scheduler"],
                     denoise=case["denoise"], sampling=case.get("sampling"), zsnr=case.get("zsnr", False))
    workflow = load_workflow(prompt, REGISTRY)
    with observing(ScheduleRecorder()) as recorder:
        result = Executor(REGISTRY).run(workflow, job_id="schedule", emit=lambda event: None,
                                        interrupt=InterruptFlag())
    assert result.status == "succeeded", (result.error, result.issues)
    assert len(recorder.schedules) == 1
    return [float(v) for v in recorder.schedules[0].tolist()]


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case['scheduler']}-{case['sampler_name']}")
def test_route_sigmas_equal_the_ones_the_sampler_consumed(
    case: dict[str, Any], tiny_base: folders.Folders, server: Server
) -> None:
    consumed = consumed_sigmas(case)
    reply = server.request("POST", "/api/schedule", case)
    assert reply.status == 200, reply.body
    table = reply.json()
    assert table["sigmas"] == consumed  # exact: the same code, the same float32 values
    assert [row["sigma"] for row in table["rows"]] == consumed
    assert table["steps"] == len(consumed) - 1


def test_derived_columns(server: Server) -> None:
    table = server.request("POST", "/api/schedule", {"scheduler": "karras", "steps": 4}).json()
    first, last = table["rows"][0], table["rows"][-1]
    assert first["timestep"] == 999.0 and math.isclose(first["sigma"], table["sigma_max"], rel_tol=1e-6)
    for row in table["rows"][:-1]:
        sigma = row["sigma"]
        assert math.isclose(row["variance"], sigma**2 / (1 + sigma**2), rel_tol=1e-12)
        assert math.isclose(row["snr"] * sigma**2, 1.0, rel_tol=1e-12)
        assert math.isclose(row["log_snr"], math.log(row["snr"]), rel_tol=1e-9, abs_tol=1e-12)
    timesteps = [row["timestep"] for row in table["rows"][:-1]]
    assert timesteps == sorted(timesteps, reverse=True) and timesteps[-1] == 0.0  # σ_min is table entry 0
    assert last == {"step": 4, "sigma": 0.0, "variance": 0.0, "snr": None, "log_snr": None, "timestep": None}
    custom = server.request("POST", "/api/schedule", {"sigmas": [3.0, 1.0, 0.0]}).json()
    assert custom["sigmas"] == [3.0, 1.0, 0.0] and custom["rows"][1]["variance"] == 0.5
    # SD3's rectified flow with shift 3: x_σ = (1−σ)·x0 + σ·ε, so SNR = ((1−σ)/σ)²; the schedule starts at σ = 1.
    flow = server.request("POST", "/api/schedule", {"scheduler": "simple", "steps": 4,
                                                     "flow": {"kind": "sd3", "shift": 3.0}}).json()
    assert flow["sigmas"][0] == 1.0 and flow["rows"][0]["timestep"] == 1000.0
    for row in flow["rows"][1:-1]:
        sigma = row["sigma"]
        assert math.isclose(row["snr"], ((1 - sigma) / sigma) ** 2, rel_tol=1e-9)
        assert math.isclose(sigma, 3 * (1 - (row["step"] / 4)) / (1 + 2 * (1 - row["step"] / 4)), rel_tol=1e-6)


@pytest.mark.parametrize(("body", "named"), [
    ({"scheduler": "karass"}, "scheduler: expected one of"),
    ({"steps": 0}, "steps: expected a value from 1 to 10000, received 0"),
    ({"steps": 2.5}, "steps: expected an integer"),
    ({"denoise": 1.5}, "denoise: expected a value from 0 to 1"),
    ({"sampler_name": "eulr"}, "sampler_name: expected one of"),
    ({"sampling": "flow"}, "sampling: expected one of"),
    ({"zsnr": "yes"}, "zsnr: expected true or false"),
    ({"sigmas": [1.0, -1.0]}, "sigmas: expected a list"),
    ({"stesp": 4}, "stesp: expected one of the fields"),
    ({"flow": {"kind": "sd4"}}, "kind: expected one of ['sd3', 'flux']"),
    ({"flow": {"kind": "sd3"}, "zsnr": True}, "flow: expected no 'sampling'"),
])
def test_bad_fields_are_refused_by_name(server: Server, body: dict[str, Any], named: str) -> None:
    reply = server.request("POST", "/api/schedule", body)
    assert reply.status == 400
    assert named in reply.json()["error"]["message"]
