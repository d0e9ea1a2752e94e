"""The Loom Mini world: one to three flat shapes on a solid or gradient background, with a caption.

Everything is a pure function of a seed, so a dataset, a held-out split or a test prompt is named by
numbers alone. Images are drawn at twice the size and halved, which gives one blended pixel on edges.

Layout rules keep the judge's job unambiguous: shapes never overlap, every shape in an image has its
own colour, backgrounds never reuse a shape colour, and a vertical gradient only runs top to bottom.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 128

#: Named colours, far enough apart in RGB that blurry model output still reads as one of them.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 40),
    "orange": (250, 140, 20),
    "yellow": (245, 225, 30),
    "green": (30, 160, 60),
    "cyan": (40, 210, 230),
    "blue": (30, 60, 210),
    "purple": (130, 40, 170),
    "pink": (250, 140, 200),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle", "star", "ring")
#: Unit direction of each position from the image centre; the distance depends on the size.
POSITIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "top": (0.0, -1.0),
    "bottom": (0.0, 1.0),
    "centre": (0.0, 0.0),
}
POSITION_WORDS = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "centre": "in the centre",
}
#: Radius of the circle that encloses each size; large only when a shape is alone.
SIZES: dict[str, float] = {"small": 11.0, "medium": 15.0, "large": 26.0}
#: Distance from the image centre of an off-centre shape, per size (large ones stay clear of the border).
OFFSETS: dict[str, float] = {"small": 36.0, "medium": 36.0, "large": 28.0}
JITTER = 2.0


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _gradient_distance(colour: str, top: str, bottom: str) -> float:
    """RGB distance from ``colour`` to the nearest colour on the top-to-bottom gradient."""
    c, a, b = (np.array(COLOURS[n], dtype=np.float64) for n in (colour, top, bottom))
    t = float(np.clip(np.dot(c - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0))
    return float(np.linalg.norm(a + t * (b - a) - c))


#: A gradient passes no closer than this to any shape colour of its image, so shapes stay visible.
GRADIENT_CLEARANCE = 110.0


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    position: str
    size: str
    dx: float = 0.0
    dy: float = 0.0

    @property
    def centre(self) -> tuple[float, float]:
        ux, uy = POSITIONS[self.position]
        offset = OFFSETS[self.size]
        return SIZE / 2 + ux * offset + self.dx, SIZE / 2 + uy * offset + self.dy

    def phrase(self) -> str:
        size = "" if self.size == "medium" else f"{self.size} "
        words = f"{size}{self.colour} {self.kind}"
        return f"{_article(words)} {words} {POSITION_WORDS[self.position]}"


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    background: tuple[str, ...]  # one colour (solid) or two (vertical gradient, top then bottom)

    def caption(self) -> str:
        if len(self.background) == 1:
            ground = f"on {_article(self.background[0])} {self.background[0]} background"
        else:
            first, second = self.background
            ground = f"on {_article(first)} {first} to {second} gradient background"
        return ", ".join([*(s.phrase() for s in self.shapes), ground])


def sample_scene(seed: int, *, max_shapes: int = 3) -> Scene:
    """The scene of ``seed``: 1 shape half of the time, 2 or 3 otherwise (capped by ``max_shapes``)."""
    rng = random.Random(seed)
    count = min(max_shapes, rng.choices((1, 2, 3), weights=(5, 3, 2))[0])
    colours = rng.sample(list(COLOURS), count + 2)
    shape_colours, ground = colours[:count], colours[count:]
    gradient = rng.random() >= 0.7 and all(
        _gradient_distance(c, ground[0], ground[1]) > GRADIENT_CLEARANCE for c in shape_colours
    )
    background = (ground[0], ground[1]) if gradient else (ground[0],)
    positions = [rng.choice(list(POSITIONS))] if count == 1 else rng.sample(list(POSITIONS), count)
    shapes = []
    for colour, position in zip(shape_colours, positions, strict=True):
        size = rng.choice(list(SIZES) if count == 1 else ["small", "medium"])
        shapes.append(
            Shape(
                kind=rng.choice(SHAPES),
                colour=colour,
                position=position,
                size=size,
                dx=rng.uniform(-JITTER, JITTER),
                dy=rng.uniform(-JITTER, JITTER),
            )
        )
    return Scene(tuple(shapes), background)


def _polygon(kind: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if kind == "square":
        h = r * 0.8
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if kind == "triangle":
        # Point up; centred on its bounding box so "centre" means the same thing for every shape.
        h = r * 1.7
        return [(cx, cy - h / 2), (cx + h / 1.732 * 1.0, cy + h / 2), (cx - h / 1.732, cy + h / 2)]
    if kind == "star":
        points = []
        for i in range(10):
            radius = r * 1.1 if i % 2 == 0 else r * 0.48
            angle = -np.pi / 2 + i * np.pi / 5
            points.append((cx + radius * np.cos(angle), cy + 0.1 * r + radius * np.sin(angle)))
        return points
    raise ValueError(f"no polygon for {kind!r}")


def render(scene: Scene, size: int = SIZE) -> Image.Image:
    """Draw ``scene`` as an RGB image of ``size`` × ``size`` (the world is defined at 128)."""
    scale = 2 * size / SIZE
    big = 2 * size
    top = np.array(COLOURS[scene.background[0]], dtype=np.float32)
    bottom = np.array(COLOURS[scene.background[-1]], dtype=np.float32)
    t = np.linspace(0.0, 1.0, big, dtype=np.float32)[:, None, None]
    ground = np.broadcast_to(top * (1 - t) + bottom * t, (big, big, 3))
    image = Image.fromarray(np.round(ground).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        cx, cy = (v * scale for v in shape.centre)
        r = SIZES[shape.size] * scale
        fill = COLOURS[shape.colour]
        if shape.kind == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        elif shape.kind == "ring":
            mask = Image.new("L", image.size, 0)
            ring = ImageDraw.Draw(mask)
            inner = r * 0.55
            ring.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
            ring.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=0)
            image.paste(fill, mask=mask)
        else:
            draw.polygon(_polygon(shape.kind, cx, cy, r), fill=fill)
    return image.resize((size, size), Image.Resampling.BOX)


def render_array(scene: Scene, size: int = SIZE) -> np.ndarray:
    """``render`` as a uint8 array [H, W, 3]."""
    return np.asarray(render(scene, size))
