"""Checkpoint-to-ready time and peak RSS: our loader vs ``StableDiffusionPipeline.from_single_file``.

Usage: ``.venv/bin/python bench/bench_load.py [--repeats 2]``

* Writes a full-size random SD1.5 checkpoint (fp16, seeded, about 2.1 GB) with the shared
  ``make_sd15_random.py`` into ``bench/.cache/`` when it is missing, plus a local diffusers config folder
  so diffusers runs offline.
* Each measurement runs in a fresh subprocess (peak RSS is the process's ``ru_maxrss``); the file is
  read once beforehand so both loaders start from a warm page cache. Runs alternate; the best is kept.
* "Ready" means every weight is a materialised fp32 CPU tensor (both loaders upcast the fp16 file).
Prints the numbers and the ratios ours/diffusers; nothing gates on absolute time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
CHECKPOINT = CACHE / "sd15_random.safetensors"
CONFIG_DIR = CACHE / "sd15_diffusers_config"
MAKER = Path("/work/shared/parity/make_sd15_random.py")


def ensure_checkpoint() -> None:
    """Write the random SD1.5 checkpoint once (about a minute)."""
    if CHECKPOINT.exists():
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(MAKER), "--ckpt", str(CHECKPOINT), "--controlnet", ""], check=True)


def ensure_config_dir() -> None:
    """A diffusers config folder for SD1.5 built from our shipped configs (no weights, no network)."""
    if (CONFIG_DIR / "model_index.json").exists():
        return
    sys.path.insert(0, str(ROOT))
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPTextConfig

    from diffusion.models.architectures import family_config
    from diffusion.text.tokenizer import clip_tokenizer

    family = family_config("sd1")
    for sub, class_name, config in (
        ("unet", "UNet2DConditionModel", family["unet"]),
        ("vae", "AutoencoderKL", family["vae"]),
    ):
        (CONFIG_DIR / sub).mkdir(parents=True, exist_ok=True)
        (CONFIG_DIR / sub / "config.json").write_text(json.dumps({"_class_name": class_name, **config}))
    text = CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
    )  # fmt: skip
    text.save_pretrained(CONFIG_DIR / "text_encoder")
    clip_tokenizer().save_pretrained(CONFIG_DIR / "tokenizer")
    schedule = family["schedule"]
    scheduler_class: Any = EulerDiscreteScheduler  # diffusers is untyped
    scheduler_class(**schedule, steps_offset=1).save_pretrained(CONFIG_DIR / "scheduler")
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "safety_checker": [None, None],
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
    }
    (CONFIG_DIR / "model_index.json").write_text(json.dumps(index))


def child(which: str) -> None:
    """Load once in this process and print {seconds, peak_rss_gib, parameters} as JSON."""
    import torch

    sys.path.insert(0, str(ROOT))
    torch.set_grad_enabled(False)
    if which == "ours":
        from diffusion.models.checkpoint import load_checkpoint

        start = time.perf_counter()
        model, clip, vae = load_checkpoint(CHECKPOINT, device=torch.device("cpu"))
        modules = [model.unet, vae.module, *(e.module for e in clip.encoders)]
    else:
        from diffusers import StableDiffusionPipeline

        start = time.perf_counter()
        pipe = StableDiffusionPipeline.from_single_file(
            str(CHECKPOINT), config=str(CONFIG_DIR), local_files_only=True, torch_dtype=torch.float32
        )
        modules = [pipe.unet, pipe.vae, pipe.text_encoder]
    params = [p for m in modules for p in m.parameters()]
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in params)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(json.dumps({"seconds": seconds, "peak_rss_gib": peak, "parameters": sum(p.numel() for p in params)}))


def measure(which: str) -> dict[str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LATENT_LOOM_DEVICE": "cpu"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", which], check=True, capture_output=True, text=True, env=env
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=["ours", "diffusers"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    ensure_checkpoint()
    ensure_config_dir()
    with CHECKPOINT.open("rb") as f:  # warm the page cache so both start equal
        while f.read(1 << 24):
            pass
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "diffusers": []}
    for _ in range(args.repeats):
        for which in ("ours", "diffusers"):
            runs[which].append(measure(which))
            print(which, runs[which][-1], flush=True)
    best = {w: {k: min(r[k] for r in rs) for k in ("seconds", "peak_rss_gib")} for w, rs in runs.items()}
    weights_gib = runs["ours"][0]["parameters"] * 4 / 2**30
    print(f"file {CHECKPOINT.stat().st_size / 2**30:.2f} GiB (fp16); fp32 weights {weights_gib:.2f} GiB")
    for w, b in best.items():
        print(f"{w:10s} ready in {b['seconds']:.2f} s, peak RSS {b['peak_rss_gib']:.2f} GiB")
    print(f"time ratio ours/diffusers: {best['ours']['seconds'] / best['diffusers']['seconds']:.2f}")
    print(f"peak RSS ratio ours/diffusers: {best['ours']['peak_rss_gib'] / best['diffusers']['peak_rss_gib']:.2f}")
    print(f"peak RSS / fp32 weight size (ours): {best['ours']['peak_rss_gib'] / weights_gib:.2f}")


if __name__ == "__main__":
    main()
