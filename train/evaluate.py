"""Draw Loom Mini pictures through the product's own nodes and grade them with the judge.

    python -m train.evaluate                         # the shipped checkpoint on 100 held-out scenes
    python -m train.evaluate --checkpoint path.safetensors --count 100 --steps 12

Generation goes through CheckpointLoaderSimple's loader, CLIPTextEncode, KSampler and VAEDecode (the
functions behind the nodes), so a passing score means the product draws what the prompt says.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from train.judge import judge_shape, read
from train.world import Scene, sample_scene

#: Held-out evaluation scenes: seeds the trainer never draws (it stays below 1_000_000).
HELD_OUT_SEED = 1_000_000
SHIPPED = Path(__file__).resolve().parent.parent / "models-shipped" / "checkpoints" / "loom_mini.safetensors"


@dataclass(frozen=True)
class Settings:
    steps: int = 12
    cfg: float = 5.0
    sampler: str = "euler"
    scheduler: str = "normal"
    negative: str = ""


DEFAULT = Settings()


def load(path: Path = SHIPPED) -> tuple[Any, Any, Any]:
    from diffusion.models.checkpoint import load_checkpoint

    return load_checkpoint(path, device=torch.device("cpu"), dtype=torch.float32)


def draw(
    models: tuple[Any, Any, Any], prompt: str, seed: int, settings: Settings = DEFAULT, batch: int = 1
) -> list[np.ndarray]:
    """RGB uint8 images [128, 128, 3] of ``prompt`` (KSampler's noise for ``seed``, ``batch`` of them)."""
    from nodes.conditioning import clip_text_encode
    from nodes.latent import empty_latent_image, vae_decode
    from nodes.sampling import ksampler

    model, clip, vae = models
    latent = ksampler(
        model=cast(Any, model), seed=seed, steps=settings.steps, cfg=settings.cfg,
        sampler_name=cast(Any, settings.sampler), scheduler=cast(Any, settings.scheduler),
        positive=clip_text_encode(prompt, clip=clip).conditioning,
        negative=clip_text_encode(settings.negative, clip=clip).conditioning,
        latent_image=empty_latent_image(width=128, height=128, batch_size=batch).latent, denoise=1.0,
    ).latent  # fmt: skip
    images = vae_decode(latent, vae).image
    return [np.asarray((image.clamp(0, 1) * 255).round().to(torch.uint8)) for image in images]


@dataclass(frozen=True)
class Score:
    count: int
    colour: float
    position: float
    shape: float
    background: float


def held_out_scenes(count: int, max_shapes: int = 3) -> list[Scene]:
    return [sample_scene(HELD_OUT_SEED + i, max_shapes=max_shapes) for i in range(count)]


def score(models: tuple[Any, Any, Any], scenes: Sequence[Scene], settings: Settings = DEFAULT) -> Score:
    """Grade the first-named shape of each scene (its colour present, its shape and position right)."""
    verdicts = []
    for i, scene in enumerate(scenes):
        image = draw(models, scene.caption(), seed=i, settings=settings)[0]
        verdicts.append(judge_shape(read(image), scene, 0))
    n = len(verdicts)
    return Score(
        count=n,
        colour=sum(v.colour for v in verdicts) / n,
        position=sum(v.position for v in verdicts) / n,
        shape=sum(v.shape for v in verdicts) / n,
        background=sum(v.background for v in verdicts) / n,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--max-shapes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=Settings.steps)
    parser.add_argument("--cfg", type=float, default=Settings.cfg)
    parser.add_argument("--sampler", default=Settings.sampler)
    parser.add_argument("--scheduler", default=Settings.scheduler)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = Settings(steps=args.steps, cfg=args.cfg, sampler=args.sampler, scheduler=args.scheduler)
    result = score(load(args.checkpoint), held_out_scenes(args.count, args.max_shapes), settings)
    print(result)


if __name__ == "__main__":
    main()
