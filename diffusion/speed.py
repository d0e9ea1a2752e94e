"""How fast this machine runs a diffusion step, measured, and how big a checkpoint's UNet is, read from its header.

The time of one UNet evaluation is modelled as `overhead + per_unit * params * latent_pixels * batch`: a fixed
cost per step (operator dispatch, which dominates tiny models) plus compute proportional to weights times
pixels (convolutions and projections are). Both constants are measured on this device with an SD1-shaped UNet
of reduced width at two latent sizes; a checkpoint's own parameter count then scales the compute term.
It is an estimate for a warning (within a factor of about two), not a benchmark.
"""

from __future__ import annotations

import json
import math
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: LDM checkpoints keep the UNet under this prefix (SD1, SD2, SDXL).
UNET_PREFIX = "model.diffusion_model."
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
                "F8_E4M3": 1, "F8_E5M2": 1}
#: The calibration UNet: SD1's layout (four levels, attention in the first three) at a fraction of its width.
CALIBRATION_CHANNELS = (32, 64, 128, 128)
CALIBRATION_SIZES = (16, 32)  # latent sides measured (128 and 256 pixel images)
CALIBRATION_BATCH = 2  # a CFG step evaluates the positive and negative prompt together


@dataclass(frozen=True)
class Calibration:
    """Measured on `device`: seconds per UNet evaluation = overhead_s + per_unit_s * params * pixels * batch."""

    device: str
    overhead_s: float
    per_unit_s: float
    measured_at: float
    #: What was timed, for the record ("SD1-shaped UNet, 2.1M parameters, latents 16² and 32², batch 2").
    method: str

    def step_seconds(self, params: int, latent_pixels: int, batch: int) -> float:
        return self.overhead_s + self.per_unit_s * params * latent_pixels * batch

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def unet_parameter_count(path: Path) -> int | None:
    """Parameters of the UNet in a .safetensors checkpoint, from its JSON header only (no tensor is read).

    Returns None for other formats or a header without UNet tensors (the caller assumes a size then).
    """
    if path.suffix.lower() not in (".safetensors", ".sft"):
        return None
    try:
        with path.open("rb") as stream:
            (length,) = struct.unpack("<Q", stream.read(8))
            if not 0 < length < 256 * 1024 * 1024:
                return None
            header = json.loads(stream.read(length))
    except (OSError, ValueError, struct.error):
        return None
    total = 0
    for key, entry in header.items():
        if key.startswith(UNET_PREFIX) and isinstance(entry, dict) and isinstance(entry.get("shape"), list):
            total += math.prod(int(size) for size in entry["shape"])
    return total or None


def measure(device: str | None = None, repeats: int = 2) -> Calibration:
    """Time the calibration UNet on this machine (about a second on a CPU); imports torch and diffusers."""
    import torch

    from diffusion.devices import default_device
    from diffusion.models.architectures import build_unet

    target = torch.device(device) if device else default_device()
    torch.manual_seed(0)
    config = {"block_out_channels": list(CALIBRATION_CHANNELS), "layers_per_block": 1, "cross_attention_dim": 64,
              "attention_head_dim": 8, "norm_num_groups": 32, "sample_size": 32}
    unet = build_unet(config, empty=False).to(target).eval()
    params = sum(p.numel() for p in unet.parameters())
    context = torch.zeros(CALIBRATION_BATCH, 77, 64, device=target)
    timings: list[tuple[int, float]] = []
    with torch.inference_mode():
        for side in CALIBRATION_SIZES:
            sample = torch.zeros(CALIBRATION_BATCH, 4, side, side, device=target)
            unet(sample, 500, encoder_hidden_states=context)  # warm-up (allocations, kernel choice)
            runs = []
            for _ in range(repeats):
                if target.type == "cuda":
                    torch.cuda.synchronize(target)
                started = time.perf_counter()
                unet(sample, 500, encoder_hidden_states=context)
                if target.type == "cuda":
                    torch.cuda.synchronize(target)
                runs.append(time.perf_counter() - started)
            timings.append((side * side, min(runs)))  # the least disturbed run: other load only adds
    (small_px, small_s), (large_px, large_s) = timings
    slope = max(large_s - small_s, 1e-9) / (large_px - small_px)  # seconds per latent pixel (at batch 2)
    overhead = max(small_s - slope * small_px, 0.0)
    per_unit = slope / (params * CALIBRATION_BATCH)
    sizes = " and ".join(f"{side}²" for side in CALIBRATION_SIZES)
    return Calibration(
        device=str(target), overhead_s=overhead, per_unit_s=per_unit, measured_at=time.time(),
        method=f"SD1-shaped UNet, {params / 1e6:.1f}M parameters, latents {sizes}, batch {CALIBRATION_BATCH}",
    )
