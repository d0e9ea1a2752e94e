"""Render a grid of Loom Mini prompts and the pictures the shipped checkpoint draws for them (for the README).

    python -m train.grid                       # writes docs/loom_mini_grid.png
    python -m train.grid --steps 20 --out /tmp/grid.png

Each cell: the generated image (through the product's nodes), the world's own rendering of the same
scene for comparison, and the prompt underneath.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from train.evaluate import SHIPPED, Settings, draw, load
from train.world import Scene, Shape, render

PROMPTS: list[Scene] = [
    Scene((Shape("circle", "red", "centre", "large"),), ("white",)),
    Scene((Shape("square", "blue", "left", "medium"),), ("yellow",)),
    Scene((Shape("triangle", "green", "top", "medium"),), ("pink",)),
    Scene((Shape("star", "yellow", "right", "medium"),), ("blue",)),
    Scene((Shape("ring", "white", "bottom", "medium"),), ("black",)),
    Scene((Shape("circle", "orange", "left", "small"), Shape("square", "cyan", "right", "medium")), ("purple",)),
    Scene((Shape("star", "white", "centre", "large"),), ("red", "blue")),
    Scene((Shape("triangle", "black", "centre", "large"),), ("cyan",)),
]
CELL = 128
TEXT = 44


def grid(checkpoint: Path, settings: Settings) -> Image.Image:
    models = load(checkpoint)
    sheet = Image.new("RGB", (CELL * len(PROMPTS), 2 * CELL + TEXT), "white")
    pen = ImageDraw.Draw(sheet)
    for i, scene in enumerate(PROMPTS):
        image = draw(models, scene.caption(), seed=i, settings=settings)[0]
        sheet.paste(Image.fromarray(image), (i * CELL, 0))
        sheet.paste(render(scene), (i * CELL, CELL))
        caption = "\n".join(textwrap.wrap(scene.caption(), 24)[:4])
        pen.multiline_text((i * CELL + 3, 2 * CELL + 2), caption, fill="black", spacing=0)
    return sheet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED)
    parser.add_argument("--out", type=Path, default=Path("docs/loom_mini_grid.png"))
    parser.add_argument("--steps", type=int, default=Settings.steps)
    parser.add_argument("--cfg", type=float, default=Settings.cfg)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    grid(args.checkpoint, Settings(steps=args.steps, cfg=args.cfg)).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
