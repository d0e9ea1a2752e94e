"""Comfy API v2 with the real comfy-sdk (PyPI 0.5.0) against a real server process on a tiny checkpoint."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from comfy_sdk import Comfy
from comfy_sdk.events import OutputReady, Progress, StatusChange
from comfy_sdk.exceptions import IdempotencyKeyReuse, InvalidWorkflow
from PIL import Image

from diffusion.models.tiny import install_demo_checkpoint
from tests.api import v2_contract as contract
from tests.api.server_harness import Server, chain, collect_ws, new_id
from tests.api.test_txt2img import txt2img

CKPT = "tiny_sd1.safetensors"


@pytest.fixture(scope="module")
def v2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base: Path = tmp_path_factory.mktemp("v2sdk")
    install_demo_checkpoint(base)
    instance = Server(base).start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def client(v2_server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Comfy]:
    monkeypatch.setenv("COMFY_BASE_URL", v2_server.url)
    monkeypatch.delenv("COMFY_API_KEY", raising=False)
    with Comfy() as comfy:
        yield comfy


def img2img(image: Any, seed: int = 3) -> dict[str, Any]:
    graph = txt2img(CKPT, seed)
    del graph["5"]
    graph["10"] = {"class_type": "LoadImage", "inputs": {"image": image}}
    graph["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    graph["3"]["inputs"].update(latent_image=["11", 0], denoise=0.6)
    return graph


def test_submit_stream_events_to_the_end_and_download(client: Comfy, v2_server: Server) -> None:
    job = client.submit(client.workflows.from_json(txt2img(CKPT)))
    events = list(job.events())
    assert isinstance(events[-1], StatusChange) and events[-1].status == "succeeded", events
    progress = [event for event in events if isinstance(event, Progress)]
    assert progress and all(0.0 <= p.value <= 1.0 for p in progress)
    assert [p.value for p in progress] == sorted(p.value for p in progress)  # never goes backwards
    # Step progress is throttled (PROGRESS_INTERVAL, latest wins): a tiny 3-step sampler can finish inside one
    # interval, so step-level progress is checked on a job whose steps take longer than the interval.
    slow = client.submit(client.workflows.from_json(chain(steps=6, delay_ms=150)))
    slow_progress = [event for event in slow.events() if isinstance(event, Progress)]
    assert any(p.steps == 6 and p.step is not None for p in slow_progress), slow_progress
    streamed = [event.output for event in events if isinstance(event, OutputReady)]
    job.result()
    assert [o.id for o in streamed] == [o.id for o in job.outputs]
    (output,) = job.outputs
    assert output.node_id == "9" and output.type == "image" and output.content_type == "image/png"
    data = output.to_bytes()
    assert len(data) == output.size_bytes
    with Image.open(io.BytesIO(data)) as png:
        assert png.size == (64, 64)
    assert output.to_bytes(range=(0, 7)) == data[:8]
    body = contract.job(v2_server.request("GET", f"/api/v2/jobs/{job.id}"))
    assert body["progress"]["value"] == 1.0 and body["error"] is None and body["metrics"]["execution_ms"] >= 0
    asset = contract.asset(v2_server.request("GET", f"/api/v2/assets/{output.id}"))
    assert asset["job_id"] == job.id and asset["hash"].startswith("blake3:")
    # the same job on the v1 surfaces: history with the image, and not in the queue any more
    history = v2_server.request("GET", f"/history/{job.id}").json()[job.id]
    assert history["outputs"]["9"]["images"][0]["filename"] == output.name
    queue = v2_server.request("GET", "/queue").json()
    assert job.id not in str(queue)


def test_v2_job_is_on_the_websocket_and_the_queue(v2_server: Server) -> None:
    async def follow() -> tuple[str, list[Any], list[Any]]:
        box: dict[str, str] = {}
        ready = asyncio.Event()
        listener = asyncio.create_task(collect_ws(v2_server, new_id(), lambda: box.get("id"), 60, ready))
        await ready.wait()
        reply = await asyncio.to_thread(v2_server.request, "POST", "/api/v2/jobs",
                                        {"workflow": chain(steps=20, delay_ms=20)})
        box["id"] = contract.job(reply, 201)["id"]
        queue = await asyncio.to_thread(v2_server.request, "GET", "/queue")
        return box["id"], await listener, queue.json()["queue_running"] + queue.json()["queue_pending"]

    job_id, messages, queued = asyncio.run(follow())
    assert job_id in [item[1] for item in queued]
    types = [m["type"] for m in messages if isinstance(m, dict) and m["data"].get("prompt_id") == job_id]
    assert "execution_start" in types and "execution_success" in types and "progress" in types


def test_upload_an_input_image_and_use_it_in_img2img(client: Comfy, v2_server: Server) -> None:
    picture = Image.new("RGB", (64, 64), (200, 40, 40))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    handle = client.assets.from_bytes(buffer.getvalue(), filename="red.png", content_type="image/png")
    workflow = client.workflows.from_json(img2img("placeholder"))
    workflow.set_input("10", "image", handle)
    job = client.submit(workflow).result()
    assert handle.id is not None and handle.created_new is True
    assert (v2_server.base / "input" / "red.png").is_file()
    executed = job.get_workflow()
    assert executed.format == "api" and executed.graph["10"]["inputs"]["image"] == "red.png"
    (output,) = job.outputs
    with Image.open(io.BytesIO(output.to_bytes())) as png:
        assert png.size == (64, 64)
    # the same bytes again: the SDK's HEAD by-hash + from-hash fast path, no second file
    again = client.assets.from_bytes(buffer.getvalue(), filename="red.png", content_type="image/png")
    assert again.commit() == handle.id and again.created_new is False
    # an output used as the next job's input: copied into input/ under a content-named file
    chained = client.submit(client.workflows.from_json(img2img({"__type": "core/ASSET", "info": {"id": output.id}})))
    chained.result()
    assert chained.get_workflow().graph["10"]["inputs"]["image"].startswith("from-outputs/")


def test_cancel_a_running_job(client: Comfy, v2_server: Server) -> None:
    job = client.submit(client.workflows.from_json(chain(steps=400, delay_ms=25)))
    deadline = time.monotonic() + 30
    while job.refresh().status != "running":
        assert time.monotonic() < deadline, job.status
        time.sleep(0.05)
    job.cancel()
    assert job.status in ("canceling", "canceled")
    job.wait(timeout=30)
    assert job.status == "canceled"
    again = contract.job(v2_server.request("POST", f"/api/v2/jobs/{job.id}/cancel"))
    assert again["status"] == "canceled"  # idempotent
    entry = v2_server.request("GET", f"/history/{job.id}").json()[job.id]
    assert entry["status"]["status_str"] == "error"


def test_cancel_a_queued_job(v2_server: Server) -> None:
    blocker = contract.job(v2_server.request("POST", "/api/v2/jobs", {"workflow": chain(steps=100, delay_ms=20)}),
                           201)
    queued = contract.job(v2_server.request("POST", "/api/v2/jobs", {"workflow": chain(value=7)}), 201)
    assert queued["status"] == "queued" and queued["queue_position"] is not None
    canceled = contract.job(v2_server.request("POST", f"/api/v2/jobs/{queued['id']}/cancel"))
    assert canceled["status"] == "canceled" and canceled["outputs"] == []
    contract.job(v2_server.request("POST", f"/api/v2/jobs/{blocker['id']}/cancel"))


def test_idempotency_keys_are_single_use_and_refusals_free_them(client: Comfy, v2_server: Server) -> None:
    key = f"test-{new_id()}"
    broken = chain()
    broken["2"]["inputs"]["steps"] = "many"
    with pytest.raises(InvalidWorkflow) as refused:
        client.submit(client.workflows.from_json(broken), idempotency_key=key)
    assert refused.value.http_status == 422 and refused.value.code == "invalid_workflow"
    before = len(contract.job_list(v2_server.request("GET", "/api/v2/jobs?limit=100")))
    job = client.submit(client.workflows.from_json(chain(value=3)), idempotency_key=key)  # the refusal used no key
    with pytest.raises(IdempotencyKeyReuse) as reused:
        client.submit(client.workflows.from_json(chain(value=3)), idempotency_key=key)
    assert reused.value.http_status == 422 and reused.value.code == "idempotency_key_reuse"
    after = contract.job_list(v2_server.request("GET", "/api/v2/jobs?limit=100"))
    assert len(after) == before + 1 and after[0]["id"] == job.id  # one job, newest first
    job.result()


def test_prompt_job_reads_through_v2_and_lists(client: Comfy, v2_server: Server) -> None:
    reply = v2_server.post_prompt(chain(value=9))
    prompt_id = reply.json()["prompt_id"]
    job = client.jobs.get(prompt_id).result()
    (output,) = job.outputs
    with Image.open(io.BytesIO(output.to_bytes())) as png:
        assert png.getpixel((0, 0)) == (11, 11, 11)  # value 9 plus 2 steps
    succeeded = contract.job_list(v2_server.request("GET", "/api/v2/jobs?status=succeeded&limit=100"))
    assert prompt_id in [item["id"] for item in succeeded]
    assert all(item["status"] == "succeeded" for item in succeeded)
    summaries = list(client.list_jobs(limit=5))
    assert len(summaries) <= 5 and summaries[0].create_time is not None


def test_sse_resumes_after_reconnect_with_last_event_id(v2_server: Server) -> None:
    body = contract.job(v2_server.request("POST", "/api/v2/jobs",
                                          {"workflow": chain(steps=12, delay_ms=120, preview=16)}), 201)
    full = contract.sse_events(v2_server.request("GET", body["urls"]["events"], timeout=60).body)
    previews = [data for _, event, data in full if event == "preview"]
    assert previews and previews[0]["content_type"] == "image/jpeg" and previews[0]["node_id"] == "2"
    assert len(previews) <= 12 * 0.120 / 0.5 + 2  # throttled to about two a second
    logs = [data["message"] for _, event, data in full if event == "log"]
    assert logs[0] == "job started" and logs[-1] == "job succeeded"
    assert [event for _, event, _ in full][-1] == "status" and full[-1][2]["status"] == "succeeded"
    outputs = [data for _, event, data in full if event == "output"]
    assert len(outputs) == 1
    last_before_output = next(i for i, (_, event, _) in enumerate(full) if event == "output") - 1
    resumed = contract.sse_events(v2_server.request(
        "GET", body["urls"]["events"], headers={"Last-Event-ID": full[last_before_output][0]}).body)
    assert [data["id"] for _, event, data in resumed if event == "output"] == [outputs[0]["id"]]
    after_all = contract.sse_events(v2_server.request(
        "GET", body["urls"]["events"], headers={"Last-Event-ID": full[-1][0]}).body)
    assert [event for _, event, _ in after_all if event in ("output", "log")] == []  # nothing missed
    assert after_all[-1][1] == "status" and after_all[-1][2]["status"] == "succeeded"



def test_the_readme_example_runs(v2_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Comfy API v2", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) == 5
    (tmp_path / "workflow_api.json").write_text(json.dumps(txt2img(CKPT, seed=11)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMFY_API_KEY", raising=False)
    monkeypatch.setenv("COMFY_BASE_URL", v2_server.url)
    exec(code.replace("http://127.0.0.1:8188", v2_server.url), {})  # the README's own five lines
    with Image.open(tmp_path / "out.png") as png:
        assert png.size == (64, 64)


def test_the_async_client_too(v2_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from comfy_sdk import AsyncComfy

    monkeypatch.setenv("COMFY_BASE_URL", v2_server.url)
    monkeypatch.delenv("COMFY_API_KEY", raising=False)

    async def run() -> tuple[list[Any], bytes]:
        async with AsyncComfy() as client:
            job = await client.submit(client.workflows.from_json(chain(steps=4, delay_ms=20, value=20)))
            events = [event async for event in job.events()]
            await job.result()
            return events, await job.outputs[0].to_bytes()

    events, data = asyncio.run(run())
    assert isinstance(events[-1], StatusChange) and events[-1].status == "succeeded"
    with Image.open(io.BytesIO(data)) as png:
        assert png.getpixel((0, 0)) == (24, 24, 24)


def test_job_labels_are_stored_and_filter_the_list(client: Comfy) -> None:
    label = new_id()
    job = client.submit(client.workflows.from_json(chain(value=5)), metadata={"run": label, "client": "acme"})
    other = client.submit(client.workflows.from_json(chain(value=6)), metadata={"run": "other"})
    assert job.metadata == {"client": "acme", "run": label}
    assert client.jobs.get(job.id).metadata == {"client": "acme", "run": label}
    listed = list(client.list_jobs(metadata={"run": label}))
    assert [summary.id for summary in listed] == [job.id] and listed[0].metadata["client"] == "acme"
    job.result()
    other.result()
