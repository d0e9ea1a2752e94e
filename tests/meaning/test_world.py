"""The procedural world: deterministic, varied, and captioned the way its rules say."""

from __future__ import annotations

import hashlib

import numpy as np

from train.world import (
    COLOURS,
    GRADIENT_CLEARANCE,
    POSITIONS,
    SHAPES,
    SIZES,
    _gradient_distance,
    render_array,
    sample_scene,
)


def _digest(seed: int) -> str:
    return hashlib.sha256(render_array(sample_scene(seed)).tobytes()).hexdigest()


def test_same_seed_same_scene_and_pixels() -> None:
    assert sample_scene(7) == sample_scene(7)
    assert _digest(7) == _digest(7)
    assert _digest(7) != _digest(8)


def test_world_covers_every_word() -> None:
    scenes = [sample_scene(s) for s in range(600)]
    shapes = [shape for scene in scenes for shape in scene.shapes]
    assert len(COLOURS) >= 8
    assert {s.kind for s in shapes} == set(SHAPES)
    assert {s.colour for s in shapes} == set(COLOURS)
    assert {s.position for s in shapes} == set(POSITIONS)
    assert {s.size for s in shapes} == set(SIZES)
    assert {len(scene.shapes) for scene in scenes} == {1, 2, 3}
    assert {len(scene.background) for scene in scenes} == {1, 2}  # solid and gradient


def test_layout_rules_hold() -> None:
    for seed in range(600):
        scene = sample_scene(seed)
        colours = [s.colour for s in scene.shapes]
        assert len(set(colours)) == len(colours), "each shape has its own colour"
        assert not set(colours) & set(scene.background), "backgrounds never reuse a shape colour"
        assert len({s.position for s in scene.shapes}) == len(scene.shapes)
        if len(scene.background) == 2:
            assert all(_gradient_distance(c, *scene.background) > GRADIENT_CLEARANCE for c in colours)


def test_caption_names_each_shape_then_the_background() -> None:
    scene = next(sample_scene(s) for s in range(100) if len(sample_scene(s).shapes) == 2)
    caption = scene.caption()
    first, second = scene.shapes
    assert caption.startswith(("a ", "an "))
    assert caption.index(first.kind) < caption.index(second.kind) < caption.index("background")
    assert caption.endswith("background")


def test_image_is_128_rgb_with_the_background_in_its_corners() -> None:
    scene = next(sample_scene(s) for s in range(100) if len(sample_scene(s).background) == 1)
    image = render_array(scene)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == COLOURS[scene.background[0]]
