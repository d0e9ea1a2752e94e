"""The judge is trusted to grade the model only because it reads the generator's own images right."""

from __future__ import annotations

import numpy as np

from train.judge import judge_scene, judge_shape, read
from train.world import COLOURS, Scene, Shape, render_array, sample_scene


def test_judge_reads_the_generators_images() -> None:
    seeds = range(20_000, 20_300)  # every shape of every scene: colour, kind, position, size, background, count
    agreement = np.mean([judge_scene(read(render_array(sample_scene(s))), sample_scene(s)) for s in seeds])
    assert agreement >= 0.98, agreement


def test_judge_tells_each_shape_position_and_colour_apart() -> None:
    for kind in ("circle", "square", "triangle", "star", "ring"):
        for position in ("left", "right", "top", "bottom", "centre"):
            for size in ("small", "large"):
                scene = Scene((Shape(kind, "red", position, size),), ("white",))
                verdict = judge_shape(read(render_array(scene)), scene)
                assert verdict.all, (kind, position, size, verdict)
    for colour in COLOURS:
        ground = "black" if colour != "black" else "white"
        scene = Scene((Shape("circle", colour, "centre", "medium"),), (ground,))
        assert read(render_array(scene)).blobs[0].colour == colour


def test_judge_rejects_a_picture_of_something_else() -> None:
    scenes = [sample_scene(s) for s in range(30_000, 30_100)]
    shifted = scenes[1:] + scenes[:1]
    wrong = [judge_scene(read(render_array(a)), b) for a, b in zip(scenes, shifted, strict=True)]
    assert sum(wrong) <= 2


def test_blank_and_noise_images_hold_no_shapes() -> None:
    assert read(np.full((128, 128, 3), 200, np.uint8)).blobs == ()
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    assert all(blob.area < 400 for blob in read(noise).blobs)
