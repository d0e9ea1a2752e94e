"""Latent arithmetic, compositing and transform nodes against hand-worked tensors and closed forms."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from nodes.latent_ops import (
    latent_add,
    latent_batch,
    latent_batch_seed_behavior,
    latent_blend,
    latent_composite,
    latent_composite_masked,
    latent_crop,
    latent_flip,
    latent_interpolate,
    latent_multiply,
    latent_rotate,
    latent_subtract,
)


def latent(batch: int = 1, height: int = 4, width: int = 4, seed: int = 0, **extra: Any) -> dict[str, Any]:
    samples = torch.randn(batch, 4, height, width, generator=torch.Generator().manual_seed(seed))
    return {"samples": samples, **extra}


def test_arithmetic_keeps_other_keys_and_cycles_the_batch() -> None:
    mask = torch.ones(1, 1, 4, 4)
    a, b = latent(2, noise_mask=mask), latent(1, seed=1)
    added = latent_add(a, b).latent
    assert added["noise_mask"] is mask
    assert torch.allclose(added["samples"], a["samples"] + b["samples"])
    assert torch.allclose(latent_subtract(a, b).latent["samples"], a["samples"] - b["samples"])
    assert torch.allclose(latent_multiply(a, -2.5).latent["samples"], a["samples"] * -2.5)
    small = latent(1, 2, 2, seed=2)
    grown = latent_add(latent(1), small).latent["samples"]
    upsampled = torch.nn.functional.interpolate(small["samples"], size=(4, 4), mode="bilinear")
    assert torch.allclose(grown - latent(1)["samples"], upsampled, atol=1e-6)
    with pytest.raises(ValueError, match="LatentAdd: the latents have 4 and 16 channels"):
        latent_add(latent(1), {"samples": torch.zeros(1, 16, 4, 4)})
    for composite in (lambda a, b: latent_composite(a, b, 0, 0, 0), lambda a, b: latent_blend(a, b, 0.5),
                      lambda a, b: latent_composite_masked(a, b, 0, 0, False, None)):
        with pytest.raises(ValueError, match="the latents have 4 and 16 channels"):
            composite(latent(1), {"samples": torch.zeros(1, 16, 4, 4)})
    with pytest.raises(ValueError, match=r"LatentAdd: input 'samples1' expected a LATENT"):
        latent_add({"samples": torch.zeros(4, 4)}, latent(1))


def test_interpolate_mixes_direction_and_length() -> None:
    a = {"samples": torch.tensor([3.0, 0, 0, 0]).view(1, 4, 1, 1)}
    b = {"samples": torch.tensor([0, 1.0, 0, 0]).view(1, 4, 1, 1)}
    out = latent_interpolate(a, b, 0.5).latent["samples"].flatten()
    # direction (1, 1)/√2, length (3 + 1)/2 = 2
    assert torch.allclose(out, torch.tensor([math.sqrt(2), math.sqrt(2), 0, 0]))
    assert torch.allclose(latent_interpolate(a, b, 1.0).latent["samples"], a["samples"])
    zero = {"samples": torch.zeros(1, 4, 1, 1)}
    assert torch.isfinite(latent_interpolate(zero, zero, 0.5).latent["samples"]).all()


def test_blend_weights_samples1_by_the_factor() -> None:
    a, b = latent(seed=3), latent(seed=4)
    out = latent_blend(a, b, 0.25).latent["samples"]
    assert torch.allclose(out, 0.25 * a["samples"] + 0.75 * b["samples"])


def test_batch_and_seed_behaviour() -> None:
    joined = latent_batch(latent(2), latent(1, batch_index=[7])).latent
    assert joined["samples"].shape == (3, 4, 4, 4) and joined["batch_index"] == [0, 1, 7]
    fixed = latent_batch_seed_behavior(latent(3, batch_index=[5, 6, 7]), "fixed").latent
    assert fixed["batch_index"] == [5, 5, 5]
    assert latent_batch_seed_behavior(latent(2), "fixed").latent["batch_index"] == [0, 0]
    assert "batch_index" not in latent_batch_seed_behavior(latent(2, batch_index=[1, 2]), "random").latent


def test_rotate_flip_crop() -> None:
    grid = {"samples": torch.arange(16.0).view(1, 1, 4, 4).repeat(1, 4, 1, 1)}
    rotated = latent_rotate(grid, "90 degrees").latent["samples"][0, 0]
    assert rotated[0].tolist() == [12.0, 8.0, 4.0, 0.0]  # clockwise: the left column becomes the top row
    assert latent_flip(grid, "x-axis: vertically").latent["samples"][0, 0, 0].tolist() == [12.0, 13.0, 14.0, 15.0]
    assert latent_flip(grid, "y-axis: horizontally").latent["samples"][0, 0, 0].tolist() == [3.0, 2.0, 1.0, 0.0]
    big = {"samples": torch.arange(256.0).view(1, 1, 16, 16)}
    cropped = latent_crop(big, 64, 72, 16, 8).latent["samples"]
    assert cropped.shape == (1, 1, 9, 8) and cropped[0, 0, 0, 0] == 1 * 16 + 2
    corner = latent_crop(big, 64, 64, 8000, 8000).latent["samples"]
    assert corner[0, 0, 0, 0] == 8 * 16 + 8  # x, y stop 8 cells (64 px) before the far edges


def test_composite_with_feather_ramps_inner_edges() -> None:
    to = {"samples": torch.zeros(1, 1, 6, 6)}
    paste = {"samples": torch.ones(1, 1, 4, 4)}
    hard = latent_composite(to, paste, 8, 8, 0).latent["samples"][0, 0]
    assert hard[1:5, 1:5].eq(1).all() and hard.sum() == 16
    soft = latent_composite(to, paste, 8, 8, 16).latent["samples"][0, 0]
    # a 2-cell fade on all four sides (each lies inside the target): weights 1/2, 1 from the edge inwards
    assert soft[1, 1:5].tolist() == [0.25, 0.5, 0.5, 0.25]
    assert soft[2, 1:5].tolist() == [0.5, 1.0, 1.0, 0.5]
    flush = latent_composite(to, paste, 0, 0, 16).latent["samples"][0, 0]
    assert flush[0, :4].tolist() == [1.0, 1.0, 1.0, 0.5]  # the top and left edges touch the border: no fade there
    assert torch.equal(latent_composite(to, paste, 800, 0, 0).latent["samples"], to["samples"])


def test_composite_masked_uses_pixel_offsets() -> None:
    to = {"samples": torch.zeros(1, 4, 4, 4), "batch_index": [3]}
    paste = {"samples": torch.ones(1, 4, 2, 2)}
    out = latent_composite_masked(to, paste, 16, 8, False, None).latent
    assert out["batch_index"] == [3] and out["samples"][0, 0, 1:3, 2:4].eq(1).all()
    assert out["samples"].sum() == 16
    mask = torch.zeros(1, 16, 16)
    mask[:, :, :8] = 1.0  # left half of the pasted area, in pixels: resized to the 2x2 source
    half = latent_composite_masked(to, paste, 0, 0, False, mask).latent["samples"][0, 0]
    assert half[:2, 0].eq(1).all() and half[:2, 1].eq(0).all()
