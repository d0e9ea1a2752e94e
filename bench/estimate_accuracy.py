"""How close the pre-queue time estimate (`POST /api/estimate`) comes to the sampling time a job really takes.

    .venv/bin/python bench/estimate_accuracy.py                 # the demo checkpoint at 64, 128 and 256 px
    .venv/bin/python bench/estimate_accuracy.py --ckpt PATH     # any SD checkpoint (copied into a fresh base)

A server is started on a fresh base directory with `./loom`; for each size one txt2img job runs, and the time
between its sampler's first and last progress message (per step, so loading and decoding are left out, as the
estimate leaves them out) is compared with the estimate's seconds per step. Prints measured / estimated per size:
1.0 is exact; the editor's warning is meant to be right within a factor of about two.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _post(url: str, body: Any, timeout: float = 600) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=timeout).read())


def prompt(ckpt: str, side: int, steps: int) -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": side, "height": side, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 1, "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}},
    }


def measured_step_seconds(url: str, job: dict[str, Any]) -> float:
    """Seconds per sampler step from the websocket's progress messages of one job."""
    import asyncio

    import aiohttp

    async def follow() -> float:
        client = uuid.uuid4().hex
        stamps: list[float] = []
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{url}/ws?clientId={client}") as ws:
            answer = _post(f"{url}/prompt", {"prompt": job, "client_id": client})
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data["type"] == "progress" and data["data"].get("node") == "3":
                    stamps.append(time.perf_counter())
                if data["type"] == "executing" and data["data"]["node"] is None \
                        and data["data"].get("prompt_id") == answer["prompt_id"]:
                    break
        if len(stamps) < 2:
            raise SystemExit("the sampler sent fewer than two progress messages")
        return (stamps[-1] - stamps[0]) / (len(stamps) - 1)

    return asyncio.run(follow())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, help="a checkpoint to measure (default: the demo checkpoint)")
    parser.add_argument("--sizes", default="64,128,256")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="loom-estimate-") as scratch:
        base = Path(scratch)
        if args.ckpt:
            (base / "models" / "checkpoints").mkdir(parents=True)
            shutil.copy(args.ckpt, base / "models" / "checkpoints" / args.ckpt.name)
            name = args.ckpt.name
        else:
            subprocess.run([str(ROOT / "loom"), "demo-model", "--base-directory", str(base)], check=True,
                           capture_output=True)
            name = "tiny_demo_sd1.safetensors"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(ROOT / "loom"), "--base-directory", str(base), "--port", str(port), "--quiet"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(f"{url}/api/features", timeout=2)
                    break
                except OSError:
                    time.sleep(0.3)
            calibration = json.loads(urllib.request.urlopen(f"{url}/api/estimate/calibration", timeout=600).read())
            print(f"calibration on {calibration['device']}: {calibration['method']}, "
                  f"overhead {calibration['overhead_s'] * 1000:.1f} ms per step")
            measured_step_seconds(url, prompt(name, 64, 2))  # load the model once, outside the measurements
            print(f"{'size':>6} {'estimated s/step':>17} {'measured s/step':>16} {'measured/estimated':>19}")
            for side in (int(value) for value in args.sizes.split(",")):
                job = prompt(name, side, args.steps)
                estimate = _post(f"{url}/api/estimate", {"prompt": job})
                per_step = estimate["seconds"] / args.steps
                measured = measured_step_seconds(url, job)
                print(f"{side:>6} {per_step:>17.4f} {measured:>16.4f} {measured / per_step:>19.2f}")
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
