"""Empty latents of the 16-channel families (SD3, Flux.1) with ComfyUI's name and inputs: EmptySD3LatentImage."""

from __future__ import annotations

from typing import Annotated

import torch

from graph.spec import Outputs, node
from graph.widgets import MAX_RESOLUTION, Allocates, Range
from nodes.sockets import LATENT

Side16 = Annotated[int, Range(16, MAX_RESOLUTION, step=16)]


class LatentResult(Outputs):
    latent: LATENT


@node("EmptySD3LatentImage", category="latent/sd3", display_name="EmptySD3LatentImage")
def empty_sd3_latent_image(width: Annotated[Side16, Allocates("width")] = 1024,
                           height: Annotated[Side16, Allocates("height")] = 1024,
                           batch_size: Annotated[int, Range(1, 4096), Allocates("batch")] = 1) -> LatentResult:
    """A batch of zero 16-channel latents for width×height images (1/8 resolution)."""
    return LatentResult({"samples": torch.zeros([batch_size, 16, height // 8, width // 8])})
