"""Device and dtype policy: the GPU when there is one (fp16, bf16 where fp16 overflows), else the CPU in fp32."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def default_device() -> torch.device:
    """CUDA if available (and not disabled by ``LATENT_LOOM_DEVICE=cpu``), else CPU."""
    wanted = os.environ.get("LATENT_LOOM_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def unet_dtype(device: torch.device, *, cpu_bf16: bool | None = None) -> torch.dtype:
    """fp16 on CUDA, fp32 on CPU; bf16 on CPU on request (``cpu_bf16`` or ``LATENT_LOOM_CPU_BF16=1``).

    bf16 roughly halves CPU time per step but moves outputs by about 1e-2, so it is never the default.
    """
    if os.environ.get("LATENT_LOOM_FORCE_FP32", "") == "1":  # --force-fp32 (runconfig.py)
        return torch.float32
    if device.type == "cuda":
        return torch.float16
    if cpu_bf16 is None:
        cpu_bf16 = os.environ.get("LATENT_LOOM_CPU_BF16", "") == "1"
    return torch.bfloat16 if cpu_bf16 else torch.float32


def text_encoder_dtype(device: torch.device) -> torch.dtype:
    """Text encoders follow the UNet policy."""
    return unet_dtype(device)


def vae_dtype(device: torch.device) -> torch.dtype:
    """bf16 on GPUs that support it (the SDXL VAE overflows in fp16), else fp32."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported() and os.environ.get("LATENT_LOOM_FORCE_FP32") != "1":
        return torch.bfloat16
    return torch.float32


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/CPU allocation failures (``torch.OutOfMemoryError`` or the RuntimeError spelling)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def empty_cache() -> None:
    """Give cached allocator blocks back to the driver (no-op on CPU)."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def retry_after_oom(action: Callable[[], T], free: Callable[[], object]) -> T:
    """Run ``action``; on out-of-memory call ``free``, empty the cache and run it once more."""
    try:
        return action()
    except Exception as exc:  # narrowed just below; anything else propagates unchanged
        if not is_out_of_memory(exc):
            raise
    free()
    empty_cache()
    return action()
