"""Train Loom Mini from nothing on the procedural world.

    python -m train.train_mini all --out train/runs/mini     # both stages in parallel, then export
    python -m train.train_mini vae --out train/runs/mini     # one stage (resumable: rerun the same command)
    python -m train.train_mini unet --out train/runs/mini
    python -m train.train_mini export --out train/runs/mini --to models-shipped/loom_mini.safetensors

The latent code is fixed up front (``model.analysis_latents``: pooled colour + a shifted tone grid),
so the UNet and text encoder train on it from the first step while the VAE learns to produce and
invert it in another process. Every stage checkpoints weights, optimiser, step and RNG every
``--save-every`` steps (atomically), so an interrupted run continues where it stopped. One thread
per process: on a shared CPU, two OpenMP threads fighting other processes were ~8× slower than one.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from train import model as mini
from train.world import render_array, sample_scene

#: Training scenes are seeds below this; held-out evaluation seeds start here.
HELD_OUT_SEED = 1_000_000


def images_of(seeds: range | list[int]) -> torch.Tensor:
    """World images as float tensors in [-1, 1], [n, 3, 128, 128]."""
    arrays = np.stack([render_array(sample_scene(s)) for s in seeds])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save never leaves a torn checkpoint


def _lr(step: int, total: int, peak: float, warmup: int = 100) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _resume(path: Path, modules: dict[str, torch.nn.Module], opt: torch.optim.Optimizer, seed: int) -> int:
    if not path.exists():
        torch.manual_seed(seed)
        return 0
    state = torch.load(path, weights_only=False)
    for name, module in modules.items():
        module.load_state_dict(state[name])
    opt.load_state_dict(state["opt"])
    torch.set_rng_state(state["rng"])
    return int(state["step"])


def _checkpoint(path: Path, modules: dict[str, torch.nn.Module], opt: torch.optim.Optimizer, step: int) -> None:
    state: dict[str, Any] = {name: m.state_dict() for name, m in modules.items()}
    _save(path, {**state, "opt": opt.state_dict(), "step": step, "rng": torch.get_rng_state()})


# --------------------------------------------------------------------------- VAE


def train_vae(out: Path, steps: int, batch: int, save_every: int, lr: float = 1e-3) -> None:
    """Decoder inverts the fixed code; encoder regresses it (posterior mean) with a near-zero variance."""
    _, vae, _ = mini.build_modules()
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    path = out / "vae_state.pt"
    step = _resume(path, {"vae": vae}, opt, seed=1)
    vae.train()
    cells = 8  # 64×64 crops on the 8-pixel grid: the same edges at a quarter of the cost
    bar = tqdm(total=steps, initial=step, desc="vae", mininterval=30)
    while step < steps:
        seeds = [(step * batch + i) % HELD_OUT_SEED for i in range(batch)]
        images = images_of(seeds)
        code = mini.analysis_latents(images)
        cy, cx = torch.randint(0, 16 - cells + 1, (2,)).tolist()
        x = images[:, :, cy * 8 : (cy + cells) * 8, cx * 8 : (cx + cells) * 8]
        z = code[:, :, cy : cy + cells, cx : cx + cells]
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, lr)
        parts: Any = vae  # diffusers modules are untyped
        recon = parts.decode(z / mini.LATENT_SCALE).sample
        moments = parts.quant_conv(parts.encoder(x))
        mean, logvar = moments.chunk(2, dim=1)
        # Crop borders see zero padding where the full image has content: grade the encoder inside.
        encode_loss = F.mse_loss(mean[..., 1:-1, 1:-1] * mini.LATENT_SCALE, z[..., 1:-1, 1:-1])
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x) + encode_loss + 1e-3 * (logvar + 12).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", enc=f"{encode_loss.item():.4f}", refresh=False)
        if step % save_every == 0 or step == steps:
            _checkpoint(path, {"vae": vae}, opt, step)
            print(f"\nvae step {step} loss {loss.item():.4f} encoder {encode_loss.item():.4f}", flush=True)
    bar.close()


# --------------------------------------------------------------------------- UNet + text encoder


def train_unet(out: Path, steps: int, batch: int, save_every: int, lr: float) -> None:
    """Epsilon objective on the SD1 schedule, fresh scenes every step, 10% empty captions (for CFG)."""
    unet, _, text = mini.build_modules()
    params = [*unet.parameters(), *text.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    ema_unet, ema_text = copy.deepcopy(unet), copy.deepcopy(text)
    modules = {"unet": unet, "text": text, "ema_unet": ema_unet, "ema_text": ema_text}
    path = out / "unet_state.pt"
    step = _resume(path, modules, opt, seed=2)
    empty = mini.tokenize([""])[0]
    unet.train()
    text.train()
    bar = tqdm(total=steps, initial=step, desc="unet", mininterval=30)
    started = time.time()
    while step < steps:
        seeds = [(step * batch + i) % HELD_OUT_SEED for i in range(batch)]
        x0 = mini.analysis_latents(images_of(seeds))
        ids = mini.tokenize([sample_scene(s).caption() for s in seeds])
        ids[torch.rand(batch) < 0.1] = empty
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (batch,))
        xt = mini.add_noise(x0, noise, t)
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, lr)
        pred = unet(xt, t, text(input_ids=ids).last_hidden_state).sample
        # Min-SNR-5 weighting (Hang et al. 2023) for the epsilon objective: faster convergence.
        weight = mini.min_snr_weight(t)
        loss = (weight * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(0.998, (1 + step) / (10 + step))
        with torch.no_grad():
            for ema, live in ((ema_unet, unet), (ema_text, text)):
                for pe, pl in zip(ema.parameters(), live.parameters(), strict=True):
                    pe.lerp_(pl, 1 - decay)
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        if step % save_every == 0 or step == steps:
            _checkpoint(path, modules, opt, step)
            print(f"\nunet step {step} loss {loss.item():.4f} {time.time() - started:.0f}s this session", flush=True)
    bar.close()


# --------------------------------------------------------------------------- export


def export(out: Path, to: Path, weights: str = "live") -> Path:
    """Write the VAE and the UNet/text weights (``live`` or ``ema``) as one SD1.x single-file checkpoint (fp16).

    Live is the default: in a run this short the EMA still averages in the early, worse weights
    (measured: lower epsilon error for the live weights at every timestep probed).
    """
    unet, vae, text = mini.build_modules()
    vae_state = torch.load(out / "vae_state.pt", weights_only=False)
    vae.load_state_dict(vae_state["vae"])
    state = torch.load(out / "unet_state.pt", weights_only=False)
    prefix = "ema_" if weights == "ema" else ""
    unet.load_state_dict(state[prefix + "unet"])
    text.load_state_dict(state[prefix + "text"])
    meta = {
        "loom_mini_unet_steps": str(state["step"]), "loom_mini_vae_steps": str(vae_state["step"]),
        "loom_mini_weights": weights,
    }  # fmt: skip
    return mini.write_single_file(mini.ldm_state(unet, vae, text), to, {**meta, "license": "CC0-1.0"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["all", "vae", "unet", "export"])
    parser.add_argument("--out", type=Path, default=Path("train/runs/mini"))
    parser.add_argument("--to", type=Path, default=None, help="export: where to write the checkpoint")
    parser.add_argument("--vae-steps", type=int, default=1500)
    parser.add_argument("--vae-batch", type=int, default=8)
    parser.add_argument("--unet-steps", type=int, default=3000)
    parser.add_argument("--unet-batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", choices=["live", "ema"], default="live", help="export: which UNet/text weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage == "vae":
        train_vae(args.out, args.vae_steps, args.vae_batch, args.save_every)
    elif args.stage == "unet":
        train_unet(args.out, args.unet_steps, args.unet_batch, args.save_every, args.lr)
    elif args.stage == "export":
        print(export(args.out, args.to or args.out / "loom_mini.safetensors", args.weights))
    else:
        common = [f"--out={args.out}", f"--save-every={args.save_every}", f"--threads={args.threads}"]
        stages = [
            ["vae", f"--vae-steps={args.vae_steps}", f"--vae-batch={args.vae_batch}"],
            ["unet", f"--unet-steps={args.unet_steps}", f"--unet-batch={args.unet_batch}", f"--lr={args.lr}"],
        ]
        procs = [subprocess.Popen([sys.executable, "-m", "train.train_mini", *s, *common]) for s in stages]
        if any(p.wait() for p in procs):
            raise SystemExit("a training stage failed")
        print(export(args.out, args.to or args.out / "loom_mini.safetensors"))


if __name__ == "__main__":
    main()
