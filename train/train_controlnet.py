"""Train the Loom Mini Canny ControlNet: layout from the world's edge maps, on the frozen Loom Mini UNet.

    python -m train.train_controlnet --out train/runs/mini            # resumable, like train_mini
    python -m train.train_controlnet --export models-shipped/controlnet/loom_mini_canny.safetensors

Initialised from the trained UNet's encoder with zero convolutions at zero (the usual ControlNet
recipe); the hint is the Canny map of the world image as ComfyUI's Canny node gives it (white edges
on black, RGB in [0, 1]). Same objective and schedule as the base model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from diffusion.models import convert
from imaging.canny import canny_edges
from train import model as mini
from train.train_mini import HELD_OUT_SEED, _checkpoint, _lr, _resume
from train.world import render_array, sample_scene

#: Canny thresholds as ComfyUI's Canny node takes them (0..1).
CANNY_LOW, CANNY_HIGH = 0.4, 0.8


def canny_hints(images: torch.Tensor) -> torch.Tensor:
    """Edge hints [B, 3, H, W] in {0, 1} from RGB [B, H, W, 3] in 0..1: the product's Canny node (kornia), so the
    ControlNet learns the edge maps a user's workflow will feed it."""
    return canny_edges(images, CANNY_LOW, CANNY_HIGH).movedim(-1, 1)


def batch_of(seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    arrays = [render_array(sample_scene(s)) for s in seeds]
    pixels = torch.from_numpy(np.stack(arrays)).float() / 255.0
    images = pixels.permute(0, 3, 1, 2) * 2.0 - 1.0
    hints = canny_hints(pixels)
    ids = mini.tokenize([sample_scene(s).caption() for s in seeds])
    return mini.analysis_latents(images), hints, ids


def train(out: Path, steps: int, batch: int, save_every: int, lr: float) -> None:
    unet, _, text = mini.build_modules()
    base = torch.load(out / "unet_state.pt", weights_only=False)
    unet.load_state_dict(base["unet"])
    text.load_state_dict(base["text"])
    for module in (unet, text):
        module.requires_grad_(False)
        module.eval()
    controlnet = mini.controlnet_from_unet(unet)
    controlnet.train()
    opt = torch.optim.AdamW(controlnet.parameters(), lr=lr, weight_decay=0.0)
    path = out / "controlnet_state.pt"
    step = _resume(path, {"controlnet": controlnet}, opt, seed=3)
    empty = mini.tokenize([""])[0]
    bar = tqdm(total=steps, initial=step, desc="controlnet", mininterval=30)
    started = time.time()
    while step < steps:
        seeds = [(HELD_OUT_SEED // 2 + step * batch + i) % HELD_OUT_SEED for i in range(batch)]
        x0, hints, ids = batch_of(seeds)
        ids[torch.rand(batch) < 0.1] = empty
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (batch,))
        xt = mini.add_noise(x0, noise, t)
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, lr)
        with torch.no_grad():
            context = text(input_ids=ids).last_hidden_state
        down, middle = controlnet(xt, t, context, controlnet_cond=hints, return_dict=False)
        pred = unet(xt, t, context, down_block_additional_residuals=down, mid_block_additional_residual=middle).sample
        weight = mini.min_snr_weight(t)
        loss = (weight * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(controlnet.parameters(), 1.0)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        if step % save_every == 0 or step == steps:
            _checkpoint(path, {"controlnet": controlnet}, opt, step)
            print(f"\ncontrolnet step {step} loss {loss.item():.4f} {time.time() - started:.0f}s", flush=True)
    bar.close()


def export(out: Path, to: Path) -> Path:
    unet, _, _ = mini.build_modules()
    controlnet = mini.controlnet_from_unet(unet)
    state = torch.load(out / "controlnet_state.pt", weights_only=False)
    controlnet.load_state_dict(state["controlnet"])
    config: Any = controlnet.config  # diffusers' FrozenDict
    tensors = convert.to_ldm("controlnet", controlnet.state_dict(), dict(config), "control_model.")
    to.parent.mkdir(parents=True, exist_ok=True)
    halves = {k: v.half().contiguous() for k, v in tensors.items()}
    save_file(halves, str(to), metadata={"loom_mini_controlnet_steps": str(state["step"]), "license": "CC0-1.0"})
    return to


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("train/runs/mini"))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--export", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.export is not None:
        print(export(args.out, args.export))
    else:
        train(args.out, args.steps, args.batch, args.save_every, args.lr)


if __name__ == "__main__":
    main()
