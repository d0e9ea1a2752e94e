"""SaveLatent and LoadLatent: `.latent` files that move between this tool and ComfyUI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch

import folders
from graph.fingerprint import file_fingerprint
from graph.spec import Effects, NoOutputs, Outputs, node
from graph.widgets import Choices, Hidden, Text
from imaging.latent_io import latent_file_bytes, load_latent
from nodes.images import comfyui_pnginfo
from nodes.sockets import LATENT


def input_latents() -> list[str]:
    """The `.latent` files in input/: LoadLatent's options."""
    return folders.list_input_files(folders.LATENT_EXTENSIONS)


def _latent_file_hash(values: Mapping[str, Any]) -> str:
    return file_fingerprint(folders.resolve_path("input", str(values["latent"])), content_hash=True)


class Latent(Outputs):
    latent: LATENT


@node("SaveLatent", category="_for_testing", effects=Effects.WRITES_FILES)
def save_latent_node(
    samples: LATENT,
    filename_prefix: Annotated[str, Text(check=folders.output_prefix_problem)] = "latents/ComfyUI",
    prompt: Annotated[dict[str, Any] | None, Hidden("PROMPT")] = None,
    extra_pnginfo: Annotated[dict[str, Any] | None, Hidden("EXTRA_PNGINFO")] = None,
) -> NoOutputs:
    """Save a latent to output/ as `prefix_NNNNN_.latent` (safetensors, ComfyUI's format)."""
    tensor = samples.get("samples") if isinstance(samples, dict) else None
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 4:
        shown = list(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"SaveLatent: samples: expected a LATENT with 'samples' [B, C, h, w], received {shown}")
    target = folders.save_target(filename_prefix)
    data = latent_file_bytes(tensor, prompt=prompt, extra_pnginfo=comfyui_pnginfo(extra_pnginfo))
    name, _ = target.write_new_file(data, "latent", target.counter)
    return NoOutputs(ui={"latents": [{"filename": name, "subfolder": target.subfolder, "type": "output"}]})


@node("LoadLatent", category="_for_testing", effects=Effects.READS_FILES, fingerprint=_latent_file_hash)
def load_latent_node(latent: Annotated[str, Choices(input_latents, source="latent files in input/")]) -> Latent:
    """Load a `.latent` file from input/ (older files without a version marker are rescaled by 1/0.18215)."""
    return Latent(latent={"samples": load_latent(folders.resolve_path("input", latent))})
