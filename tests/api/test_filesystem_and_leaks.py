"""Issue 12 point 3: every file name is checked at validation (before anything runs), non-finite numbers are
refused naming the node and input, and no response, websocket message or history entry carries a traceback or a
server path (the server log keeps the detail, with the prompt id)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.server_harness import REPO, Server, png_bytes, run_and_follow, upload


def assert_no_leak(server: Server, text: str) -> None:
    """No traceback, no server path, no home directory in what a client received."""
    assert "Traceback" not in text and 'File "' not in text, text
    for path in (str(server.base), str(server.base.resolve()), str(REPO), str(Path.home())):
        assert path not in text, (path, text)


def refused(server: Server, prompt: dict[str, Any], node: str, input_name: str, error_type: str) -> dict[str, Any]:
    """POST the prompt: exactly 400, the node and input named with `error_type`, nothing queued, nothing leaked."""
    before = server.request("GET", "/prompt").json()["exec_info"]["queue_remaining"]
    reply = server.post_prompt(prompt)
    assert reply.status == 400, reply.body
    body = reply.json()
    errors = body["node_errors"][node]["errors"]
    matching = [e for e in errors if e["extra_info"]["input_name"] == input_name and e["type"] == error_type]
    assert matching, errors
    assert_no_leak(server, reply.body.decode())
    assert server.request("GET", "/prompt").json()["exec_info"]["queue_remaining"] == before
    return dict(matching[0])


@pytest.fixture(scope="module")
def with_image(server: Server) -> str:
    reply = upload(server, "fs_check.png", png_bytes())
    assert reply.status == 200
    return str(reply.json()["name"])


def save_image(prefix: str, image: str) -> dict[str, Any]:
    return {"1": {"class_type": "LoadImage", "inputs": {"image": image}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}}


@pytest.mark.parametrize("prefix", ["../escape", "a/../../escape", "/tmp/abs", "C:\\evil", "..", "",
                                    "sub/", "x\x00y", "%2e%2e/x"])
def test_save_image_prefix_refused_at_validation(server: Server, with_image: str, prefix: str) -> None:
    error = refused(server, save_image(prefix, with_image), "9", "filename_prefix",
                    "invalid_text" if "\x00" in prefix else "invalid_filename")
    assert error["extra_info"]["input_name"] == "filename_prefix"
    assert not list(server.base.parent.glob("escape*")) and not Path("/tmp/abs_00001_.png").exists()


def test_save_image_symlinked_subfolder_refused(server: Server, with_image: str, tmp_path: Path) -> None:
    output = server.base / "output"
    output.mkdir(exist_ok=True)
    link = output / "outside_link"
    if not link.exists():
        link.symlink_to(tmp_path, target_is_directory=True)
    error = refused(server, save_image("outside_link/x", with_image), "9", "filename_prefix", "invalid_filename")
    assert "symlink" in error["details"]
    assert list(tmp_path.iterdir()) == []


def test_good_prefix_with_subfolder_is_accepted(server: Server, with_image: str) -> None:
    reply = server.post_prompt(save_image("checked/ok", with_image))
    assert reply.status == 200, reply.body
    job = server.wait_job(reply.json()["prompt_id"])
    assert job["status"] == "succeeded", job


def test_save_latent_prefix_refused(server: Server) -> None:
    prompt = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
              "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "../../x"}}}
    refused(server, prompt, "2", "filename_prefix", "invalid_filename")


@pytest.mark.parametrize(("node", "input_name", "value"), [
    ("LoadImage", "image", "../secret.png"),
    ("LoadImage", "image", "/etc/passwd"),
    ("LoadImageMask", "image", "../../x.png"),
    ("LoadLatent", "latent", "../x.latent"),
    ("CheckpointLoaderSimple", "ckpt_name", "../../../etc/passwd"),
    ("LoraLoaderModelOnly", "lora_name", "/abs/lora.safetensors"),
])
def test_load_names_refused_at_validation(server: Server, node: str, input_name: str, value: str) -> None:
    info = server.request("GET", f"/object_info/{node}").json()[node]
    inputs: dict[str, Any] = {input_name: value}
    required = info["input"]["required"]
    for name, config in required.items():
        if name != input_name and isinstance(config[0], list) and config[0]:
            inputs[name] = config[0][0]
        elif name != input_name and config[0] == "MODEL":
            inputs[name] = ["7", 0]
    prompt = {"5": {"class_type": node, "inputs": inputs}}
    if node == "LoraLoaderModelOnly":
        prompt["7"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "none.safetensors"}}
    reply = server.post_prompt(prompt)
    assert reply.status == 400
    errors = reply.json()["node_errors"]["5"]["errors"]
    assert any(e["extra_info"]["input_name"] == input_name and e["type"] == "value_not_in_list" for e in errors)
    assert_no_leak(server, reply.body.decode())


@pytest.mark.parametrize(("raw_value", "error_type"), [
    ("NaN", "invalid_input_type"), ("Infinity", "invalid_input_type"), ("-Infinity", "invalid_input_type")])
def test_non_finite_int_named_in_node_errors(server: Server, raw_value: str, error_type: str) -> None:
    raw = json.dumps({"prompt": {"1": {"class_type": "StubNumber", "inputs": {"value": "X"}},
                                 "3": {"class_type": "StubSave", "inputs": {"value": ["1", 0]}}}}
                     ).replace('"X"', raw_value)
    reply = server.request("POST", "/api/prompt", raw=raw.encode(), headers={"Content-Type": "application/json"})
    assert reply.status == 400
    body = json.loads(reply.body)  # strict JSON: the answer itself carries no bare NaN
    error = body["node_errors"]["1"]["errors"][0]
    assert (error["type"], error["extra_info"]["input_name"]) == (error_type, "value")
    assert body["node_errors"]["1"]["class_type"] == "StubNumber"


@pytest.mark.parametrize("raw_value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_float_named_in_node_errors(server: Server, raw_value: str) -> None:
    prompt = json.dumps({
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "2": {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["1", 0], "upscale_method": "nearest-exact",
                                                          "scale_by": "X"}},
        "3": {"class_type": "SaveLatent", "inputs": {"samples": ["2", 0], "filename_prefix": "nan"}},
    }).replace('"X"', raw_value)
    raw = ('{"prompt": ' + prompt + "}").encode()
    reply = server.request("POST", "/api/prompt", raw=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400, reply.body
    error = json.loads(reply.body)["node_errors"]["2"]["errors"][0]
    assert (error["type"], error["extra_info"]["input_name"]) == ("value_not_finite", "scale_by")


def test_non_finite_in_extra_data_refused(server: Server) -> None:
    raw = ('{"prompt": {"1": {"class_type": "StubNumber", "inputs": {"value": 1}}, "3": {"class_type": "StubSave",'
           ' "inputs": {"value": ["1", 0]}}}, "extra_data": {"extra_pnginfo": {"workflow": {"x": [1, NaN]}}}}')
    reply = server.request("POST", "/api/prompt", raw=raw.encode(), headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert "extra_pnginfo.workflow.x[1]" in reply.json()["error"]["message"]


def test_runtime_failure_reaches_clients_without_traceback_or_path(server: Server) -> None:
    secret = f"cannot open {server.base}/models/checkpoints/secret.safetensors nor {Path.home()}/.cache/x"
    prompt = {"1": {"class_type": "StubNumber", "inputs": {"value": 3}},
              "2": {"class_type": "StubFail", "inputs": {"value": ["1", 0], "message": secret}},
              "3": {"class_type": "StubSave", "inputs": {"value": ["2", 0], "filename_prefix": "leak"}}}
    # The prompt itself holds the path (the node's message input): what is checked is what the server adds.
    prompt_id, received = asyncio.run(run_and_follow(server, prompt))
    errors = [m["data"] for m in received if isinstance(m, dict) and m["type"] == "execution_error"]
    assert len(errors) == 1
    error = errors[0]
    assert error["traceback"] == [] and error["node_id"] == "2" and error["exception_type"] == "ValueError"
    assert "models/checkpoints/secret.safetensors" in error["exception_message"]  # relative to the base
    assert "server log" in error["exception_message"]
    assert_no_leak(server, json.dumps(error))
    history = server.request("GET", f"/history/{prompt_id}").json()[prompt_id]
    assert_no_leak(server, json.dumps(history["status"]))
    assert_no_leak(server, json.dumps(server.request("GET", f"/api/jobs/{prompt_id}").json()))
    log = server.log()
    assert prompt_id in log and "Traceback" in log and str(server.base) in log
