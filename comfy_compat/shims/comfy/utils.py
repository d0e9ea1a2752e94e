"""ComfyUI's `comfy.utils`: ProgressBar onto Latent Loom's progress events, common_upscale, load_torch_file."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from comfy_compat.missing import not_provided
from graph.runtime import report_progress
from imaging.resize import center_crop_to_aspect, resize_images

_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")


class ProgressBar:
    """Progress of the running node: each update is a Latent Loom progress event (the websocket's `progress`)."""

    def __init__(self, total: int, node_id: str | None = None) -> None:
        self.total = int(total)
        self.current = 0

    def update_absolute(self, value: int, total: int | None = None, preview: Any = None) -> None:
        if total is not None:
            self.total = int(total)
        self.current = min(int(value), self.total) if self.total > 0 else int(value)
        image = preview[1] if isinstance(preview, tuple) and len(preview) >= 2 else None
        report_progress(self.current, self.total, image)

    def update(self, value: int) -> None:
        self.update_absolute(self.current + int(value))


def common_upscale(samples: torch.Tensor, width: int, height: int, upscale_method: str, crop: str) -> torch.Tensor:
    """Resize [B, C, H, W] to height x width (ComfyUI's signature); "center" crops to the new aspect first."""
    if upscale_method not in _METHODS:
        raise ValueError(f"common_upscale: method {upscale_method!r} is not provided; use one of {list(_METHODS)}")
    channels_last = samples.movedim(1, -1)
    if crop == "center":
        channels_last = center_crop_to_aspect(channels_last, height, width)
    if upscale_method == "lanczos":
        return resize_images(channels_last, height, width, "lanczos").movedim(-1, 1)
    # Latents are not images: no clamping here (resize_images clamps to 0..1).
    return F.interpolate(channels_last.movedim(-1, 1), size=(height, width), mode=upscale_method)


def load_torch_file(
    ckpt: str, safe_load: bool = True, device: torch.device | None = None, return_metadata: bool = False
) -> Any:
    """A state dict from .safetensors or a torch pickle; pickles load with weights_only=True, always (no code runs)."""
    device = device or torch.device("cpu")
    metadata: dict[str, str] | None = None
    if str(ckpt).lower().endswith((".safetensors", ".sft")):
        from safetensors import safe_open

        with safe_open(ckpt, framework="pt", device=str(device)) as handle:
            metadata = handle.metadata()
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118  # safe_open has no iter
    else:
        loaded = torch.load(ckpt, map_location=device, weights_only=True)
        state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
    return (state, metadata) if return_metadata else state


def __getattr__(name: str) -> Any:
    raise not_provided("comfy.utils", name)
