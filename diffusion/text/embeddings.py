"""Textual-inversion embeddings (``embedding:name`` in prompts), in the common file layouts.

* A1111/kohya safetensors: ``emb_params`` ``[n, width]``;
* SDXL: ``clip_l`` ``[n, 768]`` and ``clip_g`` ``[n, 1280]`` (one tensor per encoder);
* old ``.pt``: ``{"string_to_param": {"*": tensor}}`` (read with ``weights_only=True``);
* anything with a single 2-D tensor.
A file that has no vectors for an encoder of this width gives None (the word is then skipped).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import torch

from diffusion.models.files import load_torch_object, read_safetensors, read_torch_file, sniff_format
from graph.fingerprint import file_fingerprint

log = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _read(fingerprint: str, path: Path) -> dict[str, torch.Tensor]:
    del fingerprint  # part of the cache key only: a replaced file is read again
    if sniff_format(path) == "safetensors":
        return read_safetensors(path)
    raw = load_torch_object(path)
    if isinstance(raw, dict) and isinstance(raw.get("string_to_param"), dict):
        params = raw["string_to_param"].items()
        return {f"string_to_param.{k}": v for k, v in params if isinstance(v, torch.Tensor)}
    return read_torch_file(path)


def load_embedding(path: Path, encoder_name: str, width: int) -> torch.Tensor | None:
    """The vectors ``[n, width]`` of the embedding file at ``path`` for encoder ``encoder_name``."""
    tensors = _read(file_fingerprint(path), path)
    candidates = [tensors[k] for k in (encoder_name, "emb_params", "string_to_param.*") if k in tensors]
    if not candidates:
        candidates = [t for t in tensors.values() if t.ndim in (1, 2)]
    for tensor in candidates:
        vectors = tensor.reshape(1, -1) if tensor.ndim == 1 else tensor
        if vectors.shape[-1] == width:
            return vectors.detach().float()
    log.warning("%s has no %d-wide vectors for %s", path, width, encoder_name)
    return None
