"""The Loom Mini ControlNet is trained on the edge maps the product's Canny node makes (regression: the trainer
used OpenCV's Canny, whose maps differ from the kornia-based node users feed the ControlNet)."""

from __future__ import annotations

import numpy as np
import torch

from nodes.images import canny
from train.train_controlnet import batch_of
from train.world import render_array, sample_scene


def test_training_hints_are_the_canny_nodes_edges_at_its_defaults() -> None:
    seeds = [3, 11]
    _, hints, _ = batch_of(seeds)
    pixels = torch.from_numpy(np.stack([render_array(sample_scene(s)) for s in seeds])).float() / 255.0
    expected = canny(pixels).image.movedim(-1, 1)
    assert hints.shape == expected.shape
    assert bool(hints.sum() > 0)  # the shapes have edges
    assert torch.equal(hints, expected)
