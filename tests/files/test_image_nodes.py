"""Image nodes on small tensors and files: load (alpha, frames, EXIF, 16-bit), save, preview, scale, invert, Canny."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import folders
from folders import Folders, PathOutsideFolderError
from graph.registry import REGISTRY
from imaging.png_metadata import read_png_text
from nodes.images import (
    canny,
    image_invert,
    image_scale,
    image_scale_by,
    load_image,
    load_image_mask,
    preview_image,
    save_image,
)


def rgba_file(base: Folders, name: str = "rgba.png") -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(6, 5, 4), dtype=np.uint8)
    path = base.input_directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path, pixels


def test_load_image_rgba_gives_image_and_inverted_alpha_mask(base: Folders) -> None:
    _, pixels = rgba_file(base)
    out = load_image("rgba.png")
    assert out.image.shape == (1, 6, 5, 3) and out.image.dtype == torch.float32
    assert torch.allclose(out.image[0], torch.from_numpy(pixels[..., :3] / 255.0).float())
    assert out.mask.shape == (1, 6, 5)
    assert torch.allclose(out.mask[0], 1.0 - torch.from_numpy(pixels[..., 3] / 255.0).float())


def test_load_image_without_alpha_has_comfyui_s_empty_mask(base: Folders) -> None:
    Image.new("RGB", (7, 3), (255, 0, 0)).save(base.input_directory / "red.jpg", quality=100)
    out = load_image("red.jpg")
    assert out.image.shape == (1, 3, 7, 3)
    assert out.mask.shape == (1, 64, 64) and float(out.mask.abs().sum()) == 0.0


def test_load_image_palette_transparency_is_a_mask(base: Folders) -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.save(base.input_directory / "p.png", transparency=0)
    mask = load_image("p.png").mask
    assert mask.shape == (1, 4, 4)
    assert float(mask[0, 1, 1]) == 0.0 and float(mask[0, 0, 0]) == 1.0


def test_load_image_animated_frames_become_a_batch(base: Folders) -> None:
    frames = [Image.new("RGB", (8, 8), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(base.input_directory / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    out = load_image("anim.gif")
    assert out.image.shape == (3, 8, 8, 3)
    assert out.mask.shape[0] == 3
    assert out.image[1, 0, 0].argmax() == 1 and out.image[2, 0, 0].argmax() == 2


def test_load_image_skips_frames_of_another_size(base: Folders) -> None:
    first, other, third = Image.new("RGB", (8, 8)), Image.new("RGB", (4, 4)), Image.new("RGB", (8, 8), "white")
    first.save(base.input_directory / "pages.tiff", save_all=True, append_images=[other, third])
    out = load_image("pages.tiff")
    assert out.image.shape == (2, 8, 8, 3)
    assert float(out.image[1].min()) == 1.0


def test_load_image_applies_exif_orientation(base: Folders) -> None:
    image = Image.new("RGB", (6, 2), (0, 0, 0))
    image.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    image.save(base.input_directory / "rot.png", exif=exif)
    out = load_image("rot.png")
    assert out.image.shape == (1, 6, 2, 3)  # displayed as 2 wide, 6 tall
    assert float(out.image[0, 0, 1].mean()) == 1.0  # top-left white pixel moved to the top-right


def test_load_image_16_bit_is_scaled_like_comfyui(base: Folders) -> None:
    values = np.array([[0, 255 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(base.input_directory / "deep.png")
    out = load_image("deep.png")
    assert out.image.shape == (1, 1, 3, 3)
    assert torch.allclose(out.image[0, 0, :, 0], torch.tensor([0.0, 100 / 255, 1.0]), atol=1e-6)


def test_load_image_refuses_escapes_and_missing_files(base: Folders, tmp_path: Path) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "outside.png")
    with pytest.raises(PathOutsideFolderError):
        load_image("../outside.png")
    with pytest.raises(PathOutsideFolderError):
        load_image(str(tmp_path / "outside.png"))
    with pytest.raises(folders.FileNotFoundInFolderError, match=r"'gone\.png'"):
        load_image("gone.png")


def test_load_image_undecodable_file_names_it(base: Folders) -> None:
    (base.input_directory / "fake.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match=r"cannot decode image fake\.png"):
        load_image("fake.png")


def test_load_image_refuses_decompression_bombs(base: Folders, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("RGB", (64, 64)).save(base.input_directory / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64×64 is over twice the limit: Pillow refuses
    with pytest.raises(ValueError, match=r"cannot decode image bomb\.png.*decompression bomb"):
        load_image("bomb.png")


def test_load_image_options_and_fingerprint(base: Folders) -> None:
    path, _ = rgba_file(base, "sub/a.png")
    (base.input_directory / "notes.txt").write_text("x")
    spec = REGISTRY.get("LoadImage")
    assert spec is not None and spec.fingerprint is not None
    image_input = spec.input("image")
    assert image_input is not None and image_input.image_upload
    assert image_input.combo_options() == ["example.png", "sub/a.png"]  # example.png: the fresh layout's
    before = spec.fingerprint({"image": "sub/a.png"})
    assert before == hashlib.sha256(path.read_bytes()).hexdigest()
    Image.new("RGB", (2, 2)).save(path)
    assert spec.fingerprint({"image": "sub/a.png"}) != before


@pytest.mark.parametrize(("channel", "index"), [("red", 0), ("green", 1), ("blue", 2)])
def test_load_image_mask_color_channels(base: Folders, channel: str, index: int) -> None:
    _, pixels = rgba_file(base)
    mask = load_image_mask("rgba.png", channel).mask  # type: ignore[arg-type]
    assert mask.shape == (1, 6, 5)
    assert torch.allclose(mask[0], torch.from_numpy(pixels[..., index] / 255.0).float())


def test_load_image_mask_alpha_is_inverted_and_opaque_gives_zeros(base: Folders) -> None:
    _, pixels = rgba_file(base)
    mask = load_image_mask("rgba.png", "alpha").mask
    assert torch.allclose(mask[0], 1.0 - torch.from_numpy(pixels[..., 3] / 255.0).float())
    Image.new("RGB", (3, 2)).save(base.input_directory / "opaque.png")
    opaque = load_image_mask("opaque.png", "alpha").mask
    assert opaque.shape == (1, 2, 3) and float(opaque.sum()) == 0.0


# ------------------------------------------------------------------ saving


def gradient(batch: int = 1, height: int = 4, width: int = 6) -> torch.Tensor:
    values = torch.linspace(0, 1, batch * height * width * 3).reshape(batch, height, width, 3)
    return values


PROMPT = {"9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}}}
WORKFLOW = {"nodes": [], "links": [], "version": 0.4}


def test_save_image_names_ui_and_metadata(base: Folders) -> None:
    out = save_image(gradient(2), "ComfyUI", prompt=PROMPT, extra_pnginfo={"workflow": WORKFLOW})
    assert out.ui == {
        "images": [
            {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"},
            {"filename": "ComfyUI_00002_.png", "subfolder": "", "type": "output"},
        ]
    }
    first = base.output_directory / "ComfyUI_00001_.png"
    assert read_png_text(first) == {"prompt": json.dumps(PROMPT), "workflow": json.dumps(WORKFLOW)}
    again = save_image(gradient(1), "ComfyUI")
    assert again.ui is not None and again.ui["images"][0]["filename"] == "ComfyUI_00003_.png"
    assert read_png_text(base.output_directory / "ComfyUI_00003_.png") == {}


NATIVE = {
    "format": "latent-loom/workflow",
    "version": 1,
    "nodes": {
        "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}, "ui": {"pos": [10, 20], "title": "Src"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}, "ui": {"pos": [400, 20]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "p"},
              "ui": {"pos": [800, 20]}},
    },
    "ui": {"groups": [{"title": "G", "bounding": [0, 0, 500, 300]}]},
}


def test_native_workflow_is_written_as_a_comfyui_ui_workflow(base: Folders) -> None:
    """ComfyUI's editor opens only its own UI format from the `workflow` chunk; ours converts on save."""
    from graph.formats import load_workflow, to_api_prompt

    out = save_image(gradient(1), "meta", prompt=PROMPT, extra_pnginfo={"workflow": NATIVE, "other": 1})
    assert out.ui is not None
    chunks = read_png_text(base.output_directory / out.ui["images"][0]["filename"])
    assert list(chunks) == ["prompt", "workflow", "other"]
    ui = json.loads(chunks["workflow"])
    assert ui["version"] == 0.4 and isinstance(ui["nodes"], list) and len(ui["links"]) == 2
    by_id = {node["id"]: node for node in ui["nodes"]}
    assert by_id[1]["type"] == "LoadImage" and by_id[1]["pos"] == [10, 20] and by_id[1]["title"] == "Src"
    assert by_id[1]["widgets_values"] == ["a.png", "image"]  # the upload slot, as ComfyUI writes it
    assert ui["groups"][0]["title"] == "G"
    reloaded = load_workflow(ui, REGISTRY)
    assert to_api_prompt(reloaded) == to_api_prompt(load_workflow(NATIVE, REGISTRY))


def test_unconvertible_native_workflow_is_left_out_not_fatal(base: Folders) -> None:
    broken = {**NATIVE, "version": 99}  # a native workflow the loader refuses
    out = save_image(gradient(1), "meta", prompt=PROMPT, extra_pnginfo={"workflow": broken})
    assert out.ui is not None
    assert list(read_png_text(base.output_directory / out.ui["images"][0]["filename"])) == ["prompt"]


def test_save_image_pixels_round_trip_through_load_image(base: Folders) -> None:
    images = gradient(1, 5, 7)
    out = save_image(images, "rt")
    assert out.ui is not None
    name = out.ui["images"][0]["filename"]
    (base.input_directory / name).write_bytes((base.output_directory / name).read_bytes())
    loaded = load_image(name).image
    # ComfyUI truncates to 8 bits: within one step, never above
    assert float((images - loaded).max()) < 1 / 255 + 1e-6 and float((loaded - images).max()) <= 1e-6


def test_save_image_subfolder_and_tokens(base: Folders) -> None:
    out = save_image(gradient(1, 4, 6), "run/%width%x%height%/img_%batch_num%")
    assert out.ui == {"images": [{"filename": "img_0_00001_.png", "subfolder": "run/6x4", "type": "output"}]}
    assert (base.output_directory / "run" / "6x4" / "img_0_00001_.png").is_file()


@pytest.mark.parametrize("prefix", ["../escape", "/tmp/abs", "a/../../x", "C:\\x"])
def test_save_image_refuses_escaping_prefixes(base: Folders, prefix: str) -> None:
    with pytest.raises(PathOutsideFolderError):
        save_image(gradient(1), prefix)
    assert not any(base.output_directory.parent.glob("escape*"))


def test_save_image_rejects_non_image_tensors(base: Folders) -> None:
    with pytest.raises(ValueError, match=r"expected an IMAGE tensor \[B, H, W, C\].*\[4, 4\]"):
        save_image(torch.zeros(4, 4), "x")


def test_preview_image_goes_to_temp_with_metadata(base: Folders) -> None:
    out = preview_image(gradient(1), prompt=PROMPT)
    assert out.ui is not None
    entry = out.ui["images"][0]
    assert entry["type"] == "temp" and entry["subfolder"] == ""
    assert entry["filename"].startswith("ComfyUI_temp_") and entry["filename"].endswith("_00001_.png")
    assert "prompt" in read_png_text(base.temp_directory / entry["filename"])
    assert not list(base.output_directory.glob("*.png"))


def test_node_specs_match_comfyui() -> None:
    expected = {
        "LoadImage": (["image"], ["IMAGE", "MASK"], "image"),
        "LoadImageMask": (["image", "channel"], ["MASK"], "mask"),
        "SaveImage": (["images", "filename_prefix", "prompt", "extra_pnginfo"], [], "image"),
        "PreviewImage": (["images", "prompt", "extra_pnginfo"], [], "image"),
        "ImageScale": (["image", "upscale_method", "width", "height", "crop"], ["IMAGE"], "image/upscaling"),
        "ImageScaleBy": (["image", "upscale_method", "scale_by"], ["IMAGE"], "image/upscaling"),
        "ImageInvert": (["image"], ["IMAGE"], "image"),
        "Canny": (["image", "low_threshold", "high_threshold"], ["IMAGE"], "image/preprocessors"),
    }
    for node_id, (inputs, outputs, category) in expected.items():
        spec = REGISTRY.get(node_id)
        assert spec is not None, node_id
        assert [item.name for item in spec.inputs] == inputs, node_id
        assert [output.type_name for output in spec.outputs] == outputs, node_id
        assert spec.category == category
    save = REGISTRY.get("SaveImage")
    assert save is not None and save.output_node and not save.cacheable
    prefix = save.input("filename_prefix")
    assert prefix is not None and prefix.default == "ComfyUI"
    hidden = [(item.name, item.type_name) for item in save.inputs if item.section == "hidden"]
    assert hidden == [("prompt", "PROMPT"), ("extra_pnginfo", "EXTRA_PNGINFO")]
    scale = REGISTRY.get("ImageScale")
    assert scale is not None
    method = scale.input("upscale_method")
    assert method is not None and method.options == ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
    width = scale.input("width")
    assert width is not None and width.default == 512 and width.range is not None
    assert (width.range.min, width.range.max, width.range.step) == (0, 16384, 1)
    canny_spec = REGISTRY.get("Canny")
    assert canny_spec is not None
    low = canny_spec.input("low_threshold")
    assert low is not None and low.default == 0.4 and low.range is not None
    assert (low.range.min, low.range.max, low.range.step) == (0.01, 0.99, 0.01)
    channel = REGISTRY.get("LoadImageMask")
    assert channel is not None
    channel_input = channel.input("channel")
    assert channel_input is not None and channel_input.options == ("alpha", "red", "green", "blue")


# ------------------------------------------------------------------ transforms


def test_image_scale_sizes_and_aspect() -> None:
    image = gradient(2, 8, 16)
    assert image_scale(image, "bilinear", 32, 4).image.shape == (2, 4, 32, 3)
    assert image_scale(image, "nearest-exact", 0, 4).image.shape == (2, 4, 8, 3)  # 0 keeps aspect
    assert image_scale(image, "area", 4, 0).image.shape == (2, 2, 4, 3)
    assert image_scale(image, "bicubic", 0, 0).image is image
    lanczos = image_scale(image, "lanczos", 5, 3).image
    assert lanczos.shape == (2, 3, 5, 3) and lanczos.dtype == torch.float32
    for method in ("nearest-exact", "bilinear", "area", "bicubic", "lanczos"):
        scaled = image_scale(image, method, 13, 7).image
        assert float(scaled.min()) >= 0.0 and float(scaled.max()) <= 1.0, method


def test_image_scale_center_crop_keeps_the_middle() -> None:
    image = torch.zeros(1, 4, 12, 3)
    image[:, :, 4:8] = 1.0  # a white band in the middle third
    cropped = image_scale(image, "nearest-exact", 4, 4, "center").image
    assert cropped.shape == (1, 4, 4, 3)
    assert float(cropped.min()) == 1.0  # only the middle survives


def test_image_scale_by_and_invert() -> None:
    image = gradient(1, 10, 20)
    assert image_scale_by(image, "bilinear", 0.5).image.shape == (1, 5, 10, 3)
    assert image_scale_by(image, "nearest-exact", 1.55).image.shape == (1, 16, 31, 3)
    assert torch.equal(image_invert(image).image, 1.0 - image)


def test_canny_finds_the_square_border_only() -> None:
    image = torch.zeros(1, 32, 32, 3)
    image[:, 8:24, 8:24] = 1.0
    edges = canny(image).image
    assert edges.shape == (1, 32, 32, 3)
    assert set(torch.unique(edges).tolist()) == {0.0, 1.0}
    assert torch.equal(edges[..., 0], edges[..., 2])
    ring = edges[0, :, :, 0]
    assert float(ring[6:26, 6:26].sum()) > 40  # edges around the square
    assert float(ring[12:20, 12:20].sum()) == 0  # flat inside
    assert float(ring[:4].sum()) == 0  # flat outside


def test_canny_thresholds_follow_comfyui_s_scale() -> None:
    image = torch.zeros(1, 32, 32, 3)
    image[:, 8:24, 8:24] = 0.1  # a faint square: weak gradient
    assert float(canny(image, 0.01, 0.05).image.sum()) > 0
    assert float(canny(image, 0.4, 0.8).image.sum()) == 0


def test_canny_is_kornia_s_with_comfyui_s_call() -> None:
    """ComfyUI's node is kornia.filters.canny with its defaults (5x5 Gaussian, sigma 1, hysteresis) on NCHW."""
    kornia_filters = pytest.importorskip("kornia.filters")
    generator = torch.Generator().manual_seed(3)
    coarse = torch.rand(2, 3, 6, 8, generator=generator)
    image = torch.nn.functional.interpolate(coarse, size=(48, 64), mode="bicubic").clamp(0, 1).movedim(1, -1)
    for low, high in ((0.05, 0.2), (0.4, 0.8), (0.1, 0.1)):
        _, expected = kornia_filters.canny(
            image.movedim(-1, 1), low, high, kernel_size=(5, 5), sigma=(1.0, 1.0), hysteresis=True
        )
        edges = canny(image, low, high).image
        assert torch.equal(edges, expected.repeat(1, 3, 1, 1).movedim(1, -1))
    assert float(canny(image, 0.05, 0.2).image.sum()) > 0


def test_canny_rejects_low_above_high() -> None:
    with pytest.raises(ValueError, match=r"low_threshold \(0.9\) must not be above high_threshold \(0.2\)"):
        canny(torch.zeros(1, 8, 8, 3), 0.9, 0.2)


def test_load_image_accepts_comfyui_s_input_annotation(base: Folders) -> None:
    """ComfyUI's mask editor stores "clipspace/x.png [input]" in workflows: it validates and loads; another
    folder's annotation and annotated names on plain combos are still refused."""
    import nodes
    from graph.formats import load_workflow
    from graph.validate import validate

    _, pixels = rgba_file(base, "clipspace/clipspace-mask-1.png")
    out = load_image("clipspace/clipspace-mask-1.png [input]")
    assert torch.allclose(out.mask[0], torch.from_numpy(1.0 - pixels[..., 3] / 255.0).float(), atol=1e-6)
    registry = nodes.load_catalog(None)

    def issues(value: str) -> list[str]:
        prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": value}},
                  "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
        return [issue.type for issue in validate(load_workflow(prompt, registry), registry)]

    assert issues("clipspace/clipspace-mask-1.png [input]") == []
    assert issues("clipspace/clipspace-mask-1.png") == []
    assert issues("clipspace/clipspace-mask-1.png [output]") == ["value_not_in_list"]
    assert issues("clipspace/other.png [input]") == ["value_not_in_list"]
