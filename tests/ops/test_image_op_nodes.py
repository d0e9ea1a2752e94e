"""Image transform, batch, filter and compositing nodes against PIL, kornia and hand-worked tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.image_filters import image_blend, image_blur, image_composite_masked, image_sharpen
from nodes.image_transform import (
    empty_image,
    get_image_size,
    image_batch,
    image_crop,
    image_flip,
    image_pad_for_outpaint,
    image_rotate,
    image_scale_to_total_pixels,
    outpaint_mask,
    repeat_image_batch,
)


def photo(height: int = 6, width: int = 8, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


def as_pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray((image[0].numpy() * 255).round().astype(np.uint8))


def test_flip_and_rotate_match_pil() -> None:
    image = (photo() * 255).round() / 255
    cases = {
        ("flip", "x-axis: vertically"): Image.Transpose.FLIP_TOP_BOTTOM,
        ("flip", "y-axis: horizontally"): Image.Transpose.FLIP_LEFT_RIGHT,
        ("rotate", "90 degrees"): Image.Transpose.ROTATE_270,  # PIL turns counter-clockwise
        ("rotate", "180 degrees"): Image.Transpose.ROTATE_180,
        ("rotate", "270 degrees"): Image.Transpose.ROTATE_90,
    }
    for (kind, option), transpose in cases.items():
        out = image_flip(image, option).image if kind == "flip" else image_rotate(image, option).image  # type: ignore[arg-type]
        expected = np.asarray(as_pil(image).transpose(transpose), dtype=np.float32) / 255
        assert np.allclose(out[0].numpy(), expected, atol=1e-6), option
    assert torch.equal(image_rotate(image, "none").image, image)


def test_crop_clamps_the_corner_and_cuts_at_the_edge() -> None:
    image = photo()
    assert torch.equal(image_crop(image, 3, 2, 1, 4).image, image[:, 4:6, 1:4])
    assert image_crop(image, 512, 512, 100, 100).image.shape == (1, 1, 1, 3)  # x, y stop at the last pixel


def test_empty_image_colour_size_and_batch() -> None:
    out = empty_image(3, 2, 2, 0xFF8000).image
    assert out.shape == (2, 2, 3, 3)
    assert torch.allclose(out[1, 1, 2], torch.tensor([1.0, 128 / 255, 0.0]))
    size = get_image_size(photo(5, 7, 3))
    assert (size.width, size.height, size.batch_size) == (7, 5, 3)


def test_batches() -> None:
    first, second = photo(4, 4, 2), photo(2, 8, 1, seed=1)
    joined = image_batch(first, second).image
    assert joined.shape == (3, 4, 4, 3) and torch.equal(joined[:2], first)
    # 2x8 cropped around the centre to 1:1 (columns 3..4), then bilinear to 4x4
    centre = torch.nn.functional.interpolate(second[:, :, 3:5].movedim(-1, 1), size=(4, 4), mode="bilinear")
    assert torch.allclose(joined[2], centre.movedim(1, -1)[0], atol=1e-6)
    rgba = torch.ones(1, 4, 4, 4) * 0.5
    mixed = image_batch(first, rgba).image
    assert mixed.shape == (3, 4, 4, 4) and mixed[:2, ..., 3].eq(1).all()  # RGB gains an opaque alpha
    assert torch.equal(repeat_image_batch(first, 3).image, torch.cat([first] * 3))


def test_scale_to_total_pixels_sizes() -> None:
    out = image_scale_to_total_pixels(photo(60, 80), "bilinear", 0.01, 1).image
    # sqrt(0.01 * 2^20 / 4800) = 1.4780..: 80 -> 118.2 -> 118, 60 -> 88.7 -> 89
    assert out.shape == (1, 89, 118, 3)
    stepped = image_scale_to_total_pixels(photo(60, 80), "nearest-exact", 0.01, 16).image
    assert stepped.shape == (1, 96, 112, 3)  # 88.7/16 -> 6, 118.2/16 -> 7


def test_pad_for_outpaint_canvas_and_feathered_mask() -> None:
    image = photo(10, 10)
    out = image_pad_for_outpaint(image, 8, 0, 0, 0, 2)
    assert out.image.shape == (1, 10, 18, 3) and out.mask.shape == (1, 10, 18)
    assert torch.equal(out.image[:, :, 8:], image) and out.image[:, :, :8].eq(0.5).all()
    assert out.mask[0, :, :8].eq(1).all()
    # inside: d = column index (only the left side is padded); (2 - d)/2 squared for d < 2
    assert out.mask[0, 0, 8:].tolist() == [1.0, 0.25] + [0.0] * 8
    assert outpaint_mask(10, 10, (8, 0, 0, 0), 5).eq(0).all()  # 2·feathering must be below both sides


def test_blend_modes_closed_forms() -> None:
    a = torch.tensor([[[[0.2, 0.6, 0.8]]]])
    b = torch.tensor([[[[0.5, 0.5, 0.1]]]])
    expected = {
        "normal": b,
        "multiply": a * b,
        "screen": 1 - (1 - a) * (1 - b),
        "overlay": torch.tensor([[[[2 * 0.2 * 0.5, 1 - 2 * 0.4 * 0.5, 1 - 2 * 0.2 * 0.9]]]]),
        "difference": (a - b).clamp(0, 1),
    }
    for mode, result in expected.items():
        assert torch.allclose(image_blend(a, b, 1.0, mode).image, result), mode  # type: ignore[arg-type]
    half = image_blend(a, b, 0.5, "multiply").image
    assert torch.allclose(half, 0.5 * a + 0.5 * a * b)
    soft = image_blend(a, b, 1.0, "soft_light").image[0, 0, 0]
    d = ((16 * 0.2 - 12) * 0.2 + 4) * 0.2  # 0.2 <= 0.25
    assert soft[0].item() == pytest.approx(0.2 + 0 * (d - 0.2))
    assert soft[2].item() == pytest.approx(0.8 - (1 - 0.2) * 0.8 * 0.2)


def test_blur_and_sharpen_against_kornia() -> None:
    kornia_filters = pytest.importorskip("kornia.filters")
    image = photo(12, 16, 2)
    for radius, sigma in ((1, 1.0), (3, 0.5), (5, 2.0)):
        size = 2 * radius + 1
        # ComfyUI's kernel lives on linspace(-1, 1, size): pixel offset d sits at d / radius.
        reference = kornia_filters.gaussian_blur2d(
            image.movedim(-1, 1), (size, size), (sigma * radius, sigma * radius), border_type="reflect"
        ).movedim(1, -1)
        assert torch.allclose(image_blur(image, radius, sigma).image, reference, atol=1e-5)
        sharpened = image_sharpen(image, radius, sigma, 0.3).image
        assert torch.allclose(sharpened, ((1 + 3.0) * image - 3.0 * reference).clamp(0, 1), atol=1e-5)
    assert torch.allclose(image_sharpen(image, 2, 1.0, 0.0).image, image, atol=1e-6)


def test_composite_masked_offsets_and_mask() -> None:
    destination = torch.zeros(1, 4, 4, 3)
    source = torch.ones(1, 2, 2, 3)
    out = image_composite_masked(destination, source, 3, 1, False, None).image
    assert out[0, 1:3, 3].eq(1).all() and out.sum() == 2 * 3  # one column visible
    mask = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    masked = image_composite_masked(destination, source, 0, 0, False, mask).image[0, :2, :2, 0]
    assert masked.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    stretched = image_composite_masked(destination, source, 0, 0, True, None).image
    assert stretched.eq(1).all()
