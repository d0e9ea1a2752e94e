"""txt2img speed: our stack vs diffusers' StableDiffusionPipeline vs the bare model calls, on the same weights.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_txt2img.py [--size 256] [--steps 10] [--checkpoint PATH]

Uses the deterministic random SD1.5 checkpoint (regenerated into bench/.cache/ by bench/parity_check.py's
helper when missing), CPU, fp32, Euler. Prints wall times and the ratios ours/diffusers and ours/bare, where
"bare" is the sum of the text-encoder, UNet and VAE-decoder calls the job makes, each timed alone on the same
inputs. Targets: ours/diffusers <= 1.00, ours/bare <= 1.02.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline  # noqa: E402
from parity_check import ensure_checkpoint  # noqa: E402  (sibling script)

from diffusion.models.checkpoint import load_checkpoint  # noqa: E402
from diffusion.sampling.ksampler import sample  # noqa: E402
from diffusion.text.tokenizer import clip_tokenizer  # noqa: E402

PROMPT, NEGATIVE = "a photo of a cat", "blurry"


def _timed_method(method: Callable[..., Any], enter: Callable[[], None], leave: Callable[[], None]
                  ) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        enter()
        try:
            return method(*args, **kwargs)
        finally:
            leave()

    return wrapper


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@torch.no_grad()
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--cfg", type=float, default=7.0)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; the minimum of each is kept")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--parity-dir", type=Path, default=ROOT.parent / "shared" / "parity")
    args = parser.parse_args()
    path = args.checkpoint or ensure_checkpoint(args.parity_dir)
    model, clip, vae = load_checkpoint(path, device=torch.device("cpu"), dtype=torch.float32)
    for module in (model.unet, vae.module, clip.encoders[0].module):  # page the weights in before timing
        for p in module.parameters():
            p.data = p.data.clone()
    unet, text_encoder, vae_module = model.unet, clip.encoders[0].module, vae.module
    h = w = args.size // 8
    latent = {"samples": torch.zeros(1, 4, h, w)}

    def ours() -> None:
        pos, neg = clip.encode(PROMPT), clip.encode(NEGATIVE)
        out = sample(model, seed=1, steps=args.steps, cfg=args.cfg, sampler_name="euler",
                     scheduler="normal", positive=[pos], negative=[neg], latent=latent)
        vae.decode(out["samples"])

    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="linspace", steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae_module, text_encoder=text_encoder, tokenizer=clip_tokenizer(),
                                   unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)

    def diffusers_run() -> None:
        pipe(PROMPT, negative_prompt=NEGATIVE, height=args.size, width=args.size, num_inference_steps=args.steps,
             guidance_scale=args.cfg, generator=torch.Generator().manual_seed(1), output_type="pt")

    ids = clip_tokenizer()([PROMPT], padding="max_length", max_length=77, return_tensors="pt").input_ids
    x = torch.randn(2, 4, h, w)
    context = torch.randn(2, 77, 768)
    z = torch.randn(1, 4, h, w)

    def bare() -> float:
        total = timed(lambda: text_encoder(ids)) + timed(lambda: text_encoder(ids))
        total += sum(timed(lambda: unet(x, torch.tensor([500.0, 500.0]), encoder_hidden_states=context))
                     for _ in range(args.steps))
        total += timed(lambda: vae_module.decode(z / vae.scaling_factor))
        return total

    # Time spent inside the model modules during a whole run: the rest is the pipeline's own overhead, a
    # number that stays meaningful when the machine's load changes between runs.
    inside = [0.0]
    depth = [0]
    entered = [0.0]

    def enter(*_: object) -> None:
        if depth[0] == 0:
            entered[0] = time.perf_counter()
        depth[0] += 1

    def leave(*_: object) -> None:
        depth[0] -= 1
        if depth[0] == 0:
            inside[0] += time.perf_counter() - entered[0]

    # The text tower's encoder is hooked too: our CLIP runs it directly (token embeddings are built by hand).
    for module in (unet, text_encoder, clip.encoders[0].tower.encoder):
        module.register_forward_pre_hook(enter)
        module.register_forward_hook(leave)
    vae_module.decode = _timed_method(vae_module.decode, enter, leave)  # decode() does not go through forward()

    def with_overhead(fn: Callable[[], object]) -> tuple[float, float]:
        inside[0] = 0.0
        total = timed(fn)
        return total, total - inside[0]

    bare()  # warm-up of every kernel
    # Alternate the three so that load changes on a shared machine hit all of them; keep each one's best.
    t_ours = t_diffusers = t_bare = o_ours = o_diffusers = float("inf")
    for _ in range(args.repeats):
        total, overhead = with_overhead(ours)
        t_ours, o_ours = min(t_ours, total), min(o_ours, overhead)
        total, overhead = with_overhead(diffusers_run)
        t_diffusers, o_diffusers = min(t_diffusers, total), min(o_diffusers, overhead)
        t_bare = min(t_bare, bare())
    print(f"CPU fp32, {args.size}x{args.size}, {args.steps} steps, cfg {args.cfg}, {torch.get_num_threads()} threads, "
          f"best of {args.repeats}")
    print(f"ours       {t_ours:8.2f} s")
    print(f"diffusers  {t_diffusers:8.2f} s")
    print(f"bare calls {t_bare:8.2f} s")
    print(f"ours/diffusers = {t_ours / t_diffusers:.3f}   ours/bare = {t_ours / t_bare:.3f}")
    print(f"time outside the model calls: ours {o_ours:.3f} s, diffusers {o_diffusers:.3f} s "
          f"({100 * o_ours / t_ours:.2f}% and {100 * o_diffusers / t_diffusers:.2f}% of each run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
