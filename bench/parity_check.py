"""Reproduce ComfyUI's reference latents (../shared/parity) with our sampling stack and report the gap.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/parity_check.py [--parity-dir ../shared/parity] [--cases a,b]

Regenerates the deterministic random SD1.5 checkpoint into bench/.cache/ when missing (about a minute,
2.1 GB), then runs each case's KSampler settings (parsed from its workflow.json) on the CPU in fp32 and prints
max|ours − ref| / std(ref). Same algorithm and conventions land far below 1e-3.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffusion.models.checkpoint import load_checkpoint  # noqa: E402
from diffusion.sampling.ksampler import sample  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
CHECKPOINT = CACHE / "sd15_random.safetensors"


def ensure_checkpoint(parity_dir: Path) -> Path:
    """Write the random SD1.5 checkpoint with the parity folder's own script, once."""
    if not CHECKPOINT.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"writing {CHECKPOINT} (about a minute) ...", flush=True)
        subprocess.run([sys.executable, str(parity_dir / "make_sd15_random.py"), "--ckpt", str(CHECKPOINT),
                        "--controlnet", ""], check=True)
    return CHECKPOINT


def _linked(workflow: dict[str, Any], link: Any) -> dict[str, Any]:
    node: dict[str, Any] = workflow[str(link[0])]
    return node


def case_settings(workflow: dict[str, Any]) -> dict[str, Any]:
    """The KSampler inputs, prompts and latent size of a ComfyUI API workflow."""
    ksampler = next(n for n in workflow.values() if n["class_type"] == "KSampler")["inputs"]
    latent = _linked(workflow, ksampler["latent_image"])
    if latent["class_type"] != "EmptyLatentImage":
        raise ValueError(f"parity case: expected an EmptyLatentImage, found {latent['class_type']}")
    return {
        "seed": int(ksampler["seed"]), "steps": int(ksampler["steps"]), "cfg": float(ksampler["cfg"]),
        "sampler_name": ksampler["sampler_name"], "scheduler": ksampler["scheduler"],
        "denoise": float(ksampler["denoise"]),
        "positive": _linked(workflow, ksampler["positive"])["inputs"]["text"],
        "negative": _linked(workflow, ksampler["negative"])["inputs"]["text"],
        "width": int(latent["inputs"]["width"]), "height": int(latent["inputs"]["height"]),
        "batch_size": int(latent["inputs"]["batch_size"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parity-dir", type=Path, default=ROOT.parent / "shared" / "parity")
    parser.add_argument("--cases", default="", help="comma-separated case folders (default: all)")
    args = parser.parse_args()
    torch.manual_seed(0)
    cases = sorted(p for p in args.parity_dir.iterdir() if (p / "workflow.json").exists())
    if args.cases:
        wanted = set(args.cases.split(","))
        cases = [c for c in cases if c.name in wanted]
    started = time.perf_counter()
    model, clip, _vae = load_checkpoint(ensure_checkpoint(args.parity_dir), device=torch.device("cpu"),
                                        dtype=torch.float32)
    print(f"loaded checkpoint in {time.perf_counter() - started:.1f}s", flush=True)
    worst = 0.0
    for case in cases:
        settings = case_settings(json.loads((case / "workflow.json").read_text()))
        reference = load_file(str(next(case.glob("*.latent"))))["latent_tensor"].float()
        t0 = time.perf_counter()
        latent = {"samples": torch.zeros(settings["batch_size"], 4, settings["height"] // 8, settings["width"] // 8)}
        out = sample(model, seed=settings["seed"], steps=settings["steps"], cfg=settings["cfg"],
                     sampler_name=settings["sampler_name"], scheduler=settings["scheduler"],
                     positive=[clip.encode(settings["positive"])], negative=[clip.encode(settings["negative"])],
                     latent=latent, denoise=settings["denoise"])["samples"]
        gap = float((out - reference).abs().max() / reference.std())
        worst = max(worst, gap)
        print(f"{case.name:28s} max|ours-ref|/std(ref) = {gap:.3e}   ({time.perf_counter() - t0:.1f}s)",
              flush=True)
    print(f"worst: {worst:.3e} ({'OK' if worst < 1e-3 else 'MISMATCH'}: threshold 1e-3)")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
