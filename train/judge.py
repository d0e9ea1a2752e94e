"""A small deterministic judge that reads a Loom Mini world image back into words.

It estimates the background row by row from the side borders (backgrounds are solid or vertical
gradients, and shapes never touch the sides), marks pixels that differ from it, names each such
pixel by its nearest world colour, and measures every connected blob of one colour:

* shape, from scale-free ratios of the hole-filled blob: a hole (ring), low solidity against its
  convex hull (star), mass far below the middle of its box (triangle), then how much of its box it
  fills (square > circle);
* position, from the centroid relative to the image centre;
* size, from the area converted back to the world's radius for that shape.

It is validated against the generator's own images (tests/meaning/test_judge.py) before it is
trusted to grade a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from train.world import COLOURS, SIZE, Scene

_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[n] for n in _NAMES], dtype=np.float32)
#: RGB distance from the background above which a pixel belongs to a shape.
FOREGROUND = 60.0
#: Blobs smaller than this (pixels, at 128×128) are edge fringes or noise, not shapes.
MIN_AREA = 40
#: Area of each shape in units of its world radius squared (see world.render).
_AREA_FACTOR = {"circle": np.pi, "ring": np.pi, "square": 2.56, "triangle": 1.669, "star": 1.552}


@dataclass(frozen=True)
class Blob:
    colour: str
    shape: str
    position: str
    size: str
    area: int
    centre: tuple[float, float]
    mask: np.ndarray


@dataclass(frozen=True)
class Reading:
    background: tuple[str, ...]
    blobs: tuple[Blob, ...]  # largest first

    def find(self, colour: str) -> Blob | None:
        """The largest blob of ``colour``, if any."""
        return next((b for b in self.blobs if b.colour == colour), None)


def nearest_colour(rgb: np.ndarray) -> np.ndarray:
    """Index into the world palette of the nearest colour, for an array [..., 3]."""
    distance = np.linalg.norm(rgb[..., None, :].astype(np.float32) - _PALETTE, axis=-1)
    index: np.ndarray = np.argmin(distance, axis=-1)
    return index


def background_rows(image: np.ndarray) -> np.ndarray:
    """Per-row background colour [H, 3] from the four outermost columns on each side."""
    border = np.concatenate([image[:, :4], image[:, -4:]], axis=1).astype(np.float32)
    return np.median(border, axis=1)


def _hull_area(mask: np.ndarray) -> float:
    points = cv2.findNonZero(mask.astype(np.uint8))
    hull = cv2.convexHull(points)
    canvas = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(canvas, [hull], 1)
    return float(max(canvas.sum(), 1))


def classify_shape(mask: np.ndarray) -> str:
    filled = ndimage.binary_fill_holes(mask)
    area = float(filled.sum())
    if (area - float(mask.sum())) / area > 0.12:
        return "ring"
    if area / _hull_area(filled) < 0.8:
        return "star"
    ys, xs = np.nonzero(filled)
    middle = (ys.min() + ys.max()) / 2
    # Triangles point up: far more of their mass lies below the middle of their box than above it.
    if (ys < middle).sum() / max(1, (ys > middle).sum()) < 0.6:
        return "triangle"
    extent = area / float((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
    return "square" if extent > 0.87 else "circle"


def classify_position(cx: float, cy: float, size: int = SIZE) -> str:
    dx, dy = cx - size / 2, cy - size / 2
    if max(abs(dx), abs(dy)) < 14 * size / SIZE:
        return "centre"
    if abs(dx) > abs(dy):
        return "left" if dx < 0 else "right"
    return "top" if dy < 0 else "bottom"


def classify_size(area: float, shape: str) -> str:
    radius = float(np.sqrt(area / _AREA_FACTOR[shape]))
    return "small" if radius < 13 else "medium" if radius < 20 else "large"


def read(image: np.ndarray) -> Reading:
    """Read an RGB uint8 image [128, 128, 3] of the world (other sizes are resized first)."""
    if image.shape[:2] != (SIZE, SIZE):
        image = cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    rows = background_rows(image)
    names = nearest_colour(rows[[0, -1]])
    background = tuple(dict.fromkeys(_NAMES[i] for i in names))
    foreground = np.linalg.norm(image.astype(np.float32) - rows[:, None, :], axis=-1) > FOREGROUND
    labels = nearest_colour(image)
    blobs = []
    for index, name in enumerate(_NAMES):
        mask = ndimage.binary_opening(foreground & (labels == index), structure=np.ones((3, 3), bool))
        components, count = ndimage.label(mask)
        for k in range(1, count + 1):
            blob = components == k
            area = int(blob.sum())
            if area < MIN_AREA:
                continue
            filled = ndimage.binary_fill_holes(blob)
            cy, cx = ndimage.center_of_mass(filled)
            shape = classify_shape(blob)
            blobs.append(
                Blob(
                    colour=name, shape=shape, position=classify_position(cx, cy), area=area,
                    size=classify_size(float(filled.sum()), shape), centre=(float(cx), float(cy)), mask=blob,
                )
            )  # fmt: skip
    return Reading(background, tuple(sorted(blobs, key=lambda b: -b.area)))


@dataclass(frozen=True)
class Verdict:
    """Per-criterion agreement between a reading and the scene it should show."""

    colour: bool
    shape: bool
    position: bool
    size: bool
    background: bool
    count: bool

    @property
    def all(self) -> bool:
        return self.colour and self.shape and self.position and self.size and self.background and self.count


def judge_shape(reading: Reading, scene: Scene, index: int = 0) -> Verdict:
    """Does ``reading`` show shape ``index`` of ``scene`` (found by its colour) as described?"""
    wanted = scene.shapes[index]
    blob = reading.find(wanted.colour)
    return Verdict(
        colour=blob is not None,
        shape=blob is not None and blob.shape == wanted.kind,
        position=blob is not None and blob.position == wanted.position,
        size=blob is not None and blob.size == wanted.size,
        background=reading.background == scene.background,
        count=len(reading.blobs) == len(scene.shapes),
    )


def judge_scene(reading: Reading, scene: Scene) -> bool:
    """Every shape, the background and the number of blobs agree."""
    return all(judge_shape(reading, scene, i).all for i in range(len(scene.shapes)))
