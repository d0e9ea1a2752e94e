"""The T5-XXL text encoder of SD3/SD3.5 and Flux.1, tokenized as ComfyUI does.

ComfyUI feeds T5 the whole prompt as one sequence (no 77-token chunks): SentencePiece ids plus ``</s>`` (id 1),
padded with id 0 to at least ``min_length`` tokens (77 for SD3, 256 for Flux), no attention mask. The output is
the encoder's last hidden state (after its final RMS norm).

Limit: prompt weights such as ``(word:1.2)`` are parsed and their syntax removed, but the weights themselves are
not applied to T5 yet (CLIP encoders do apply them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import torch
from transformers import AutoTokenizer

from diffusion.text.prompt import parse_weights

T5_PAD = 0
T5_END = 1


@cache
def t5_tokenizer() -> Any:
    """The shipped T5 v1.1 tokenizer (offline, see data/NOTICE.md)."""
    folder = resources.files("diffusion.text").joinpath("data", "t5")
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def t5_tokens(text: str, min_length: int) -> list[int]:
    """Ids of ``text`` (weight syntax removed) ending with ``</s>``, padded with 0 to ``min_length``."""
    plain = " ".join(part.strip() for part, _ in parse_weights(text) if part.strip())
    ids: list[int] = list(t5_tokenizer()(plain, add_special_tokens=True).input_ids)
    if not ids or ids[-1] != T5_END:
        ids.append(T5_END)
    return ids + [T5_PAD] * max(0, min_length - len(ids))


@dataclass(frozen=True, eq=False)
class T5Encoder:
    """A transformers ``T5EncoderModel`` and the minimum token count its family pads to."""

    module: torch.nn.Module
    min_length: int = 77

    @property
    def width(self) -> int:
        config: Any = self.module.config
        return int(config.d_model)

    def encode(self, text: str) -> torch.Tensor:
        """``[1, tokens, d_model]`` float32 on CPU."""
        ids = torch.tensor([t5_tokens(text, self.min_length)])
        device = next(self.module.parameters()).device
        with torch.no_grad():
            hidden: torch.Tensor = self.module(input_ids=ids.to(device))[0]
        return hidden.float().cpu()
