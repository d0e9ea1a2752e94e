"""Mask nodes against hand-worked small tensors and closed forms."""

from __future__ import annotations

import pytest
import torch

from nodes.masks import (
    crop_mask,
    feather_mask,
    grow_mask,
    image_to_mask,
    invert_mask,
    mask_composite,
    mask_to_image,
    solid_mask,
    threshold_mask,
)


def dot(size: int = 5) -> torch.Tensor:
    mask = torch.zeros(1, size, size)
    mask[0, size // 2, size // 2] = 1.0
    return mask


def test_mask_image_round_trip_and_channels() -> None:
    mask = torch.rand(2, 3, 4)
    image = mask_to_image(mask).image
    assert image.shape == (2, 3, 4, 3) and torch.equal(image[..., 1], mask)
    rgba = torch.rand(1, 3, 4, 4)
    for index, channel in enumerate(("red", "green", "blue", "alpha")):
        assert torch.equal(image_to_mask(rgba, channel).mask, rgba[..., index])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ImageToMask: channel 'alpha' needs an image with 4 channels, received 3"):
        image_to_mask(torch.rand(1, 2, 2, 3), "alpha")
    assert mask_to_image(torch.rand(3, 4)).image.shape == (1, 3, 4, 3)  # a bare [H, W] mask is one item


def test_solid_invert_threshold_crop() -> None:
    solid = solid_mask(0.25, 3, 2).mask
    assert solid.shape == (1, 2, 3) and torch.all(solid == 0.25)
    assert torch.allclose(invert_mask(solid).mask, torch.full((1, 2, 3), 0.75))
    mask = torch.tensor([[[0.2, 0.5, 0.7]]])
    assert threshold_mask(mask, 0.5).mask.tolist() == [[[0.0, 0.0, 1.0]]]  # strictly above
    grid = torch.arange(20.0).reshape(1, 4, 5)
    assert crop_mask(grid, 1, 2, 3, 10).mask.tolist() == [[[11.0, 12.0, 13.0], [16.0, 17.0, 18.0]]]
    with pytest.raises(ValueError, match=r"CropMask: input 'mask' expected a MASK \[B, H, W\], received \[5\]"):
        crop_mask(torch.zeros(5))


def test_grow_mask_cross_square_and_erosion() -> None:
    plus = grow_mask(dot(), 1, True).mask[0]
    assert plus.tolist() == [[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]
    square = grow_mask(dot(), 1, False).mask[0]
    assert square[1:4, 1:4].eq(1).all() and square.sum() == 9
    diamond = grow_mask(dot(7), 2, True).mask[0]
    assert diamond.sum() == 13  # |dx| + |dy| <= 2
    block = torch.zeros(1, 7, 7)
    block[0, 1:6, 1:6] = 0.8
    eroded = grow_mask(block, -1, False).mask[0]
    assert eroded.sum().item() == pytest.approx(0.8 * 9) and eroded[2:5, 2:5].eq(0.8).all()
    assert torch.equal(grow_mask(block, 0, True).mask, block)


def test_feather_mask_ramps_multiply() -> None:
    ones = torch.ones(1, 2, 4)
    assert feather_mask(ones, 2, 0, 0, 0).mask[0, 0].tolist() == [0.5, 1.0, 1.0, 1.0]
    assert feather_mask(ones, 0, 0, 4, 0).mask[0, 0].tolist() == [1.0, 0.75, 0.5, 0.25]
    both = feather_mask(ones, 2, 1, 2, 0).mask[0]
    assert both.tolist() == [[0.5, 1.0, 1.0, 0.5], [0.5, 1.0, 1.0, 0.5]]  # top 1 px: factor 1/1
    assert torch.allclose(feather_mask(ones, 9, 0, 0, 0).mask[0, 0], torch.tensor([0.25, 0.5, 0.75, 1.0]))


def test_mask_composite_operations_at_an_offset() -> None:
    destination = torch.full((1, 3, 4), 0.5)
    source = torch.full((1, 2, 2), 0.75)
    added = mask_composite(destination, source, 3, 2, "add").mask[0]
    assert added[2, 3] == 1.0 and added[:2].eq(0.5).all() and added[2, :3].eq(0.5).all()  # clipped, clamped
    assert mask_composite(destination, source, 0, 0, "multiply").mask[0, 0, 0] == 0.375
    assert mask_composite(destination, source, 0, 0, "subtract").mask[0, 0, 0] == 0.0  # clamped at 0
    a = torch.tensor([[[0.4, 0.6, 0.6, 0.4]]])
    b = torch.tensor([[[0.6, 0.6, 0.4, 0.4]]])
    assert mask_composite(a, b, 0, 0, "and").mask.tolist() == [[[0.0, 1.0, 0.0, 0.0]]]
    assert mask_composite(a, b, 0, 0, "or").mask.tolist() == [[[1.0, 1.0, 1.0, 0.0]]]
    assert mask_composite(a, b, 0, 0, "xor").mask.tolist() == [[[1.0, 0.0, 1.0, 0.0]]]
    assert torch.equal(mask_composite(destination, source, 10, 10, "add").mask, destination)  # off the canvas
    with pytest.raises(ValueError, match="MaskComposite: source has 2 masks and destination 3"):
        mask_composite(torch.zeros(3, 2, 2), torch.zeros(2, 2, 2), 0, 0, "add")
