"""ComfyUI's protocol end to end against a real server: queue → websocket → history → /view, and the routes."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from tests.api.server_harness import REPO, Server, chain, failing, new_id, run_and_follow


def _types(messages: list[Any], prompt_id: str) -> list[str]:
    return [m["type"] for m in messages if isinstance(m, dict) and m["data"].get("prompt_id") == prompt_id]


def test_queue_follow_websocket_history_view(server: Server) -> None:
    fresh = int(time.time() * 1000) % 1_000_000  # a constant no earlier test used: nothing comes from the cache
    prompt_id, messages = asyncio.run(run_and_follow(server, chain(steps=3, preview=32, prefix="e2e", value=fresh)))
    types = _types(messages, prompt_id)
    assert types[0] == "execution_start"
    assert types[1] == "execution_cached"
    assert types.count("progress") == 3
    assert types[-3:] == ["executed", "execution_success", "executing"]
    assert [m["data"]["node"] for m in messages if isinstance(m, dict) and m["type"] == "executing"] == \
        ["1", "2", "3", None]
    assert messages[0]["type"] == "status" and "sid" in messages[0]["data"]
    # A client that never asked for previews gets ComfyUI's JSON messages only (previews are opt-in).
    assert [m for m in messages if isinstance(m, bytes)] == []

    history = server.request("GET", f"/history/{prompt_id}").json()
    entry = history[prompt_id]
    assert entry["status"] == {"status_str": "success", "completed": True, "messages": entry["status"]["messages"]}
    assert [kind for kind, _ in entry["status"]["messages"]] == \
        ["execution_start", "execution_cached", "execution_success"]
    assert entry["prompt"][1] == prompt_id
    image = entry["outputs"]["3"]["images"][0]
    assert image["filename"].startswith("e2e_") and image["type"] == "output"
    view = server.request("GET", f"/view?filename={image['filename']}&subfolder={image['subfolder']}&type=output")
    assert view.status == 200
    assert view.headers["Content-Type"] == "image/png"
    assert view.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(view.body)).size == (8, 8)
    job = server.request("GET", f"/api/jobs/{prompt_id}").json()
    assert job["status"] == "succeeded" and job["outputs"]["3"]["images"][0] == image


def test_failing_node_reports_error_and_next_job_runs(server: Server) -> None:
    fresh = 500_000 + int(time.time() * 1000) % 400_000
    prompt_id, messages = asyncio.run(run_and_follow(server, failing(fresh)))
    errors = [m["data"] for m in messages if isinstance(m, dict) and m["type"] == "execution_error"]
    assert len(errors) == 1
    assert errors[0]["node_id"] == "2" and errors[0]["node_type"] == "StubFail"
    assert "stub failure" in errors[0]["exception_message"]
    job = server.request("GET", f"/api/jobs/{prompt_id}").json()
    assert job["status"] == "failed"
    entry = server.request("GET", f"/history/{prompt_id}").json()[prompt_id]
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    after = server.post_prompt(chain(value=fresh)).json()["prompt_id"]
    assert server.wait_job(after)["status"] == "succeeded"
    # What ran before the failure stayed cached.
    messages_after = server.request("GET", f"/history/{after}").json()[after]["status"]["messages"]
    assert dict(messages_after)["execution_cached"]["nodes"] == ["1"]


def test_node_breaking_its_output_contract_is_blamed(server: Server) -> None:
    prompt = {"1": {"class_type": "StubNumber", "inputs": {"value": 4}},
              "2": {"class_type": "StubWrongOutput", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "StubSave", "inputs": {"value": ["2", 0], "filename_prefix": "wrong"}}}
    job = server.wait_job(server.post_prompt(prompt).json()["prompt_id"])
    assert job["status"] == "failed"
    entry = server.request("GET", f"/history/{job['id']}").json()[job["id"]]
    error = dict(entry["status"]["messages"])["execution_error"]
    assert error["node_id"] == "2" and error["node_type"] == "StubWrongOutput"


def test_messages_go_only_to_the_submitting_client(server: Server) -> None:
    async def bounded() -> tuple[list[Any], list[Any], str]:
        # collect_ws ends by timeout for the bystander; gather what it saw through a wrapper.
        seen: list[Any] = []
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{server.url}/ws?clientId={new_id()}") as ws:
            prompt_id, mine = await run_and_follow(server, chain(steps=2, preview=16))
            await asyncio.sleep(0.2)
            while True:
                try:
                    message = await ws.receive(timeout=0.3)
                except TimeoutError:
                    break
                seen.append(message.data if message.type == aiohttp.WSMsgType.BINARY else json.loads(message.data))
        return mine, seen, prompt_id

    mine, others, prompt_id = asyncio.run(bounded())
    assert "execution_success" in _types(mine, prompt_id)
    assert [m for m in others if isinstance(m, bytes)] == []
    assert {m["type"] for m in others if isinstance(m, dict)} <= {"status"}


def test_reconnect_with_same_client_id_gets_current_state(server: Server) -> None:
    async def scenario() -> None:
        client_id = new_id()
        url = f"{server.url}/ws?clientId={client_id}"
        async with aiohttp.ClientSession() as session:
            first = await session.ws_connect(url)
            resume = json.loads((await first.receive(timeout=5)).data)["data"]["resume_token"]
            reply = await asyncio.to_thread(server.post_prompt, chain(steps=60, delay_ms=50), client_id=client_id)
            prompt_id = reply.json()["prompt_id"]
            while server.request("GET", f"/api/jobs/{prompt_id}").json()["status"] != "running":
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            # Someone else presenting this id while it is connected is refused (§C4 75) ...
            try:
                await session.ws_connect(url)
                raise AssertionError("a second live socket with the same clientId was accepted")
            except aiohttp.WSServerHandshakeError as error:
                assert error.status == 409
            # ... its owner, with the resume token, takes over at once and gets the current state (§C4 74).
            second = await session.ws_connect(f"{url}&resume={resume}")
            greeting = [json.loads((await second.receive(timeout=5)).data) for _ in range(3)]
            assert greeting[0]["type"] == "status" and greeting[0]["data"]["sid"] == client_id
            assert greeting[1]["type"] == "execution_start"
            assert greeting[2]["type"] == "executing"
            assert greeting[2]["data"] == {"node": "2", "display_node": "2", "prompt_id": prompt_id}
            # The stale socket was closed: it gets no more job messages.
            while True:
                message = await first.receive(timeout=5)
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
            # A plain reconnect after a clean close needs no token (ComfyUI clients keep working).
            await second.close()
            third = await session.ws_connect(url)
            greeting = [json.loads((await third.receive(timeout=5)).data) for _ in range(3)]
            assert [message["type"] for message in greeting] == ["status", "execution_start", "executing"]
            server.request("POST", "/interrupt", {"prompt_id": prompt_id})
            assert server.wait_job(prompt_id)["status"] == "interrupted"
            await third.close()

    asyncio.run(scenario())


def test_priority_front_and_number(server: Server) -> None:
    blocker = server.post_prompt(chain(steps=400, delay_ms=25)).json()["prompt_id"]
    while server.request("GET", f"/api/jobs/{blocker}").json()["status"] != "running":
        time.sleep(0.02)
    late = server.post_prompt(chain(value=3)).json()["prompt_id"]
    front = server.post_prompt(chain(value=4), front=True).json()["prompt_id"]
    explicit = server.post_prompt(chain(value=5), number=-1e9).json()["prompt_id"]
    queue = server.request("GET", "/queue").json()
    assert [item[1] for item in queue["queue_running"]] == [blocker]
    assert [item[1] for item in queue["queue_pending"]] == [explicit, front, late]
    assert len(queue["queue_pending"][0]) == 5
    server.request("POST", "/interrupt", {"prompt_id": blocker})
    finished = {job_id: server.wait_job(job_id)["finished"] for job_id in (late, front, explicit)}
    assert finished[explicit] <= finished[front] <= finished[late]


def test_queue_delete_clear_and_history_paging(server: Server) -> None:
    blocker = server.post_prompt(chain(steps=500, delay_ms=20)).json()["prompt_id"]
    pending = [server.post_prompt(chain(value=10 + i)).json()["prompt_id"] for i in range(3)]
    assert server.request("POST", "/queue", {"delete": [pending[0]]}).status == 200
    ids = [item[1] for item in server.request("GET", "/queue").json()["queue_pending"]]
    assert pending[0] not in ids
    assert server.request("POST", "/queue", {"clear": True}).status == 200
    assert server.request("GET", "/queue").json()["queue_pending"] == []
    assert server.request("GET", f"/api/jobs/{pending[1]}").status == 404
    server.request("POST", "/interrupt", {})
    server.wait_job(blocker)
    newest = server.request("GET", "/history?max_items=1").json()
    assert list(newest) == [blocker]
    everything = server.request("GET", "/history").json()
    assert list(everything)[-1] == blocker
    page = server.request("GET", "/history?max_items=2&offset=1").json()
    assert list(page) == list(everything)[1:3]
    assert server.request("GET", "/history/unknown-id").json() == {}
    assert server.request("POST", "/history", {"delete": [blocker]}).status == 200
    assert blocker not in server.request("GET", "/history").json()


def test_interrupt_one_job_only_if_running(server: Server) -> None:
    running = server.post_prompt(chain(steps=600, delay_ms=10)).json()["prompt_id"]
    while server.request("GET", f"/api/jobs/{running}").json()["status"] != "running":
        time.sleep(0.02)
    assert server.request("POST", "/interrupt", {"prompt_id": "someone-else"}).status == 200
    time.sleep(0.1)
    assert server.request("GET", f"/api/jobs/{running}").json()["status"] == "running"
    started = time.monotonic()
    assert server.request("POST", "/interrupt", {"prompt_id": running}).status == 200
    job = server.wait_job(running)
    assert job["status"] == "interrupted"
    assert time.monotonic() - started < 2.0  # stops within a step or two, not after ~6 s of steps
    entry = server.request("GET", f"/history/{running}").json()[running]
    assert entry["status"]["completed"] is False
    assert entry["outputs"] == {}
    assert server.wait_job(server.post_prompt(chain(value=8)).json()["prompt_id"])["status"] == "succeeded"


def test_job_status_and_cancel(server: Server) -> None:
    assert server.request("GET", "/api/jobs/does-not-exist").status == 404
    assert server.request("POST", "/api/jobs/does-not-exist/cancel").status == 404
    blocker = server.post_prompt(chain(steps=500, delay_ms=10)).json()["prompt_id"]
    # The blocker must have left the queue, or the waiting job's position is 1, not 0 (race seen under load).
    while server.request("GET", f"/api/jobs/{blocker}").json()["status"] != "running":
        time.sleep(0.02)
    waiting = server.post_prompt(chain(value=7)).json()["prompt_id"]
    status = server.request("GET", f"/api/jobs/{waiting}").json()
    assert status["status"] == "pending" and status["queue_position"] == 0
    cancelled = server.request("POST", f"/api/jobs/{waiting}/cancel")
    assert cancelled.status == 200 and cancelled.json()["status"] == "interrupted"
    assert server.request("GET", f"/api/jobs/{waiting}").json()["status"] == "interrupted"
    assert server.request("POST", f"/api/jobs/{blocker}/cancel").status == 202
    assert server.wait_job(blocker)["status"] == "interrupted"
    assert server.request("POST", f"/api/jobs/{blocker}/cancel").status == 409
    listing = server.request("GET", "/api/jobs?limit=5").json()["jobs"]
    assert {job["id"] for job in listing} >= {blocker, waiting}


def test_wait_true_returns_outputs_or_times_out(server: Server) -> None:
    done = server.request("POST", "/api/prompt?wait=true&timeout=30", {"prompt": chain(prefix="waited")})
    assert done.status == 200
    body = done.json()
    assert body["status"] == "succeeded" and body["outputs"]["3"]["images"][0]["filename"].startswith("waited_")
    slow = server.request("POST", "/api/prompt?wait=true&timeout=0.3", {"prompt": chain(steps=100, delay_ms=10)})
    assert slow.status == 202
    assert slow.json()["timed_out"] is True and slow.json()["status"] in ("pending", "running")
    server.request("POST", "/interrupt", {"prompt_id": slow.json()["prompt_id"]})
    server.wait_job(slow.json()["prompt_id"])


def test_partial_execution_targets(server: Server) -> None:
    prompt = {**chain(prefix="full"), "4": {"class_type": "StubSave",
                                            "inputs": {"value": ["1", 0], "filename_prefix": "partial"}}}
    reply = server.post_prompt(prompt, partial_execution_targets=["4"])
    job = server.wait_job(reply.json()["prompt_id"])
    assert list(job["outputs"]) == ["4"]


def test_info_routes(server: Server) -> None:
    info = server.request("GET", "/object_info").json()
    assert info["StubSteps"]["input_order"]["required"] == ["value", "steps", "delay_ms", "preview_size"]
    assert server.request("GET", "/api/object_info/StubSave").json()["StubSave"]["output_node"] is True
    assert server.request("GET", "/object_info/Nope").json() == {}
    features = server.request("GET", "/features").json()
    assert features["max_upload_size"] == 100 * 1024 * 1024
    assert "checkpoints" in server.request("GET", "/models").json()
    assert server.request("GET", "/models/checkpoints").json() == []
    assert server.request("GET", "/models/nope").status == 404
    assert server.request("GET", "/embeddings").json() == []
    assert server.request("GET", "/prompt").json() == {"exec_info": {"queue_remaining": 0}}
    assert server.request("POST", "/free", {"unload_models": True, "free_memory": True}).status == 200
    assert isinstance(server.request("GET", "/api/workflows").json()["workflows"], list)
    assert server.request("GET", "/api/workflows/..%2fserver.py").status == 404
    page = server.request("GET", "/")
    assert page.status == 200 and b"<html" in page.body.lower()


def test_convert_workflow(server: Server) -> None:
    converted = server.request("POST", "/api/workflow/convert", chain())
    assert converted.status == 200
    assert converted.json()["prompt"]["2"]["inputs"]["value"] == ["1", 0]
    assert converted.json()["workflow"]["format"] == "latent-loom/workflow"
    bad = server.request("POST", "/api/workflow/convert", {"format": "something-else"})
    assert bad.status == 400


def test_comfyui_script_example_style_client(server: Server) -> None:
    """ComfyUI's script_examples post with urllib and no Content-Type header of their own: that must work."""
    import urllib.request

    data = json.dumps({"prompt": chain(value=321), "client_id": new_id()}).encode("utf-8")
    request = urllib.request.Request(f"{server.url}/prompt", data=data)
    with urllib.request.urlopen(request, timeout=30) as response:
        prompt_id = json.loads(response.read())["prompt_id"]
    server.wait_job(prompt_id)
    with urllib.request.urlopen(f"{server.url}/history/{prompt_id}", timeout=30) as response:
        history = json.loads(response.read())
    image = history[prompt_id]["outputs"]["3"]["images"][0]
    query = urllib.parse.urlencode({"filename": image["filename"], "subfolder": image["subfolder"],
                                    "type": image["type"]})
    with urllib.request.urlopen(f"{server.url}/view?{query}", timeout=30) as response:
        assert Image.open(io.BytesIO(response.read())).size == (8, 8)


def test_cli_subcommands_dispatch_to_cli(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "server.py"), "run", str(tmp_path / "missing.json")],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 2, result.stderr
    assert "missing.json" in result.stderr


def test_ui_workflow_submitted_to_prompt_is_converted(server: Server) -> None:
    """A ComfyUI UI (LiteGraph) workflow posted as the prompt runs like its API form."""
    ui = {
        "last_node_id": 3, "last_link_id": 2, "version": 0.4, "groups": [], "config": {}, "extra": {},
        "nodes": [
            {"id": 1, "type": "StubNumber", "pos": [0, 0], "size": [200, 60], "mode": 0, "order": 0,
             "inputs": [], "outputs": [{"name": "VALUE", "type": "INT", "links": [1], "slot_index": 0}],
             "widgets_values": [77]},
            {"id": 2, "type": "StubSteps", "pos": [250, 0], "size": [200, 100], "mode": 0, "order": 1,
             "inputs": [{"name": "value", "type": "INT", "link": 1}],
             "outputs": [{"name": "VALUE", "type": "INT", "links": [2], "slot_index": 0}],
             "widgets_values": [2, 0, 0]},
            {"id": 3, "type": "StubSave", "pos": [500, 0], "size": [200, 60], "mode": 0, "order": 2,
             "inputs": [{"name": "value", "type": "INT", "link": 2}], "outputs": [],
             "widgets_values": ["from_ui"]},
        ],
        "links": [[1, 1, 0, 2, 0, "INT"], [2, 2, 0, 3, 0, "INT"]],
    }
    reply = server.post_prompt(ui)
    assert reply.status == 200, reply.body
    job = server.wait_job(reply.json()["prompt_id"])
    assert job["status"] == "succeeded"
    assert job["outputs"]["3"]["images"][0]["filename"].startswith("from_ui_")
    queued = server.request("GET", f"/history/{job['id']}").json()[job["id"]]["prompt"][2]
    assert queued["2"]["inputs"] == {"value": ["1", 0], "steps": 2, "delay_ms": 0, "preview_size": 0}


def test_previews_only_for_a_client_that_asks(server: Server) -> None:
    """`latent_loom_previews` at connect opts in to binary frames; the JSON sequence is unchanged."""
    async def follow(ask: bool) -> tuple[str, list[Any]]:
        client_id = new_id()
        received: list[Any] = []
        fresh = 700_000 + int(time.time() * 1000) % 100_000 + (1 if ask else 0)
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"{server.url}/ws?clientId={client_id}") as ws:
            await ws.receive(timeout=5)  # status
            if ask:
                await ws.send_str(json.dumps({"type": "feature_flags", "data": {"latent_loom_previews": True}}))
                flags = json.loads((await ws.receive(timeout=5)).data)
                assert flags == {"type": "feature_flags", "data": {"supports_preview_metadata": False,
                                                                   "latent_loom_previews": True}}
            reply = await asyncio.to_thread(server.post_prompt, chain(steps=3, preview=32, value=fresh),
                                            client_id=client_id)
            prompt_id = reply.json()["prompt_id"]
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    received.append(message.data)
                    continue
                data = json.loads(message.data)
                received.append(data)
                if data["type"] == "executing" and data["data"]["node"] is None:
                    break
        return prompt_id, received

    asked_id, asked = asyncio.run(follow(True))
    plain_id, plain = asyncio.run(follow(False))
    frames = [m for m in asked if isinstance(m, bytes)]
    assert len(frames) == 3
    event, image_type = struct.unpack(">II", frames[0][:8])
    assert (event, image_type) == (1, 1)
    assert Image.open(io.BytesIO(frames[0][8:])).format == "JPEG"
    assert [m for m in plain if isinstance(m, bytes)] == []
    assert _types(asked, asked_id) == _types(plain, plain_id) == [
        "execution_start", "execution_cached", "executing", "executing", "progress", "progress", "progress",
        "executing", "executed", "execution_success", "executing"]
