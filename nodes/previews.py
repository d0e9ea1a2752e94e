"""Preview nodes with ComfyUI's names and inputs: MaskPreview (a mask shown as a grey image) and ImageCompare
(two images under a slider). Both write to temp/ like PreviewImage and return what the editor shows."""

from __future__ import annotations

import random
import string
from typing import Annotated, Any

import torch

from graph.sockets import Socket
from graph.spec import Effects, NoOutputs, Outputs, node
from graph.widgets import Hidden, Label, OptionalInput
from imaging.batching import as_mask_batch
from imaging.png_metadata import PREVIEW_COMPRESS_LEVEL
from nodes.images import write_images
from nodes.sockets import MASK

PromptGraph = Annotated[dict[str, Any] | None, Hidden("PROMPT")]
ExtraPngInfo = Annotated[dict[str, Any] | None, Hidden("EXTRA_PNGINFO")]
OptionalImage = Annotated[torch.Tensor | None, Socket("IMAGE"), OptionalInput()]


def _temp_prefix(stem: str) -> str:
    return f"{stem}_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))


def _preview(images: torch.Tensor, stem: str, prompt: dict[str, Any] | None,
             extra_pnginfo: dict[str, Any] | None) -> list[Any]:
    saved = write_images(images, _temp_prefix(stem), kind="temp", prompt=prompt, extra_pnginfo=extra_pnginfo,
                         compress_level=PREVIEW_COMPRESS_LEVEL)
    return list((saved.ui or {}).get("images", []))


class MaskPreviewed(Outputs):
    mask: Annotated[torch.Tensor, Socket("MASK"), Label("mask")]
    ui: dict[str, list[Any]] | None = None


@node("MaskPreview", category="image/mask", display_name="Preview Mask", effects=Effects.WRITES_FILES)
def mask_preview(mask: MASK, prompt: PromptGraph = None, extra_pnginfo: ExtraPngInfo = None) -> MaskPreviewed:
    """Show the mask as a grey image (white = 1) without saving it to output/; the mask passes through."""
    masks = as_mask_batch("MaskPreview", mask)
    images = masks.unsqueeze(-1).expand(-1, -1, -1, 3)
    return MaskPreviewed(mask, ui={"images": _preview(images, "ComfyUI", prompt, extra_pnginfo)})


@node("ImageCompare", category="image", display_name="Image Compare", effects=Effects.WRITES_FILES)
def image_compare(image_a: OptionalImage = None, image_b: OptionalImage = None) -> NoOutputs:
    """Show two images under a slider (either may be left out)."""
    return NoOutputs(ui={
        "a_images": _preview(image_a, "comfy.compare.a", None, None) if image_a is not None and len(image_a) else [],
        "b_images": _preview(image_b, "comfy.compare.b", None, None) if image_b is not None and len(image_b) else [],
    })
