"""The CLIP value: one or two text encoders, the clip-skip layer, LoRA patches and embeddings.

Encoding follows ComfyUI: every 77-token chunk is encoded on its own; where a token's weight is
not 1, its output vector becomes ``empty + (z - empty)·w`` (``empty`` is the encoding of the
empty prompt at the same position); chunks are concatenated on the token axis; the pooled output
comes from the first chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from transformers.masking_utils import create_causal_mask

from diffusion.models.patches import WeightPatch, applied
from diffusion.text.embeddings import load_embedding
from diffusion.text.prompt import Chunk, EmbeddingLookup, TokenizerOptions, empty_chunk, tokenize
from diffusion.text.t5 import T5Encoder
from diffusion.text.tokenizer import END_TOKEN
from diffusion.types import ConditioningEntry, Family

#: name -> path of a textual-inversion file (``embedding:name`` in prompts), or None.
EmbeddingResolver = Callable[[str], Path | None]


@dataclass(frozen=True, eq=False)
class TextEncoder:
    """One transformers CLIP text tower and how ComfyUI reads it."""

    name: str  # "clip_l", "clip_h" or "clip_g" (the key used in embedding and LoRA files)
    module: torch.nn.Module  # CLIPTextModel or CLIPTextModelWithProjection
    default_layer: int  # -1 last layer, -2 penultimate
    layer_norm_hidden_state: bool
    pad_token: int
    with_projection: bool

    @property
    def tower(self) -> Any:
        """The module holding ``embeddings``/``encoder``/``final_layer_norm``."""
        return getattr(self.module, "text_model", self.module)

    @property
    def width(self) -> int:
        """Token embedding width."""
        return int(self.tower.config.hidden_size)


@dataclass(frozen=True)
class EncodedText:
    """Output of one encoder: ``hidden`` [1, 77·chunks, D] and ``pooled`` [1, P] (float32, CPU)."""

    hidden: torch.Tensor
    pooled: torch.Tensor


def _embed_chunks(encoder: TextEncoder, chunks: Sequence[Chunk]) -> torch.Tensor:
    """Token embeddings [n, 77, W]; embedding-vector tokens replace the lookup of their row."""
    table = encoder.tower.embeddings.token_embedding
    ids = torch.tensor(
        [[t if isinstance(t, int) else 0 for t, _ in chunk] for chunk in chunks], device=table.weight.device
    )
    embeds: torch.Tensor = table(ids)
    for row, chunk in enumerate(chunks):
        for col, (token, _) in enumerate(chunk):
            if isinstance(token, torch.Tensor):
                embeds[row, col] = token.to(embeds.device, embeds.dtype)
    return embeds


def _end_positions(chunks: Sequence[Chunk]) -> list[int]:
    positions = []
    for chunk in chunks:
        found = [i for i, (t, _) in enumerate(chunk) if isinstance(t, int) and t == END_TOKEN]
        positions.append(found[0] if found else len(chunk) - 1)
    return positions


@torch.no_grad()
def run_encoder(encoder: TextEncoder, chunks: Sequence[Chunk], layer: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states at ``layer`` (ComfyUI's clip-skip semantics) and the pooled output, per chunk."""
    tower = encoder.tower
    hidden = tower.embeddings(inputs_embeds=_embed_chunks(encoder, chunks))
    mask = create_causal_mask(config=tower.config, inputs_embeds=hidden, attention_mask=None, past_key_values=None)
    states = [hidden]
    for block in tower.encoder.layers:
        hidden = block(hidden, mask, is_causal=True)
        states.append(hidden)
    wanted = encoder.default_layer if layer is None else layer
    last = tower.final_layer_norm(states[-1])
    if abs(wanted) > len(tower.encoder.layers) or wanted == 0:
        selected = last  # ComfyUI reads the final (normalised) output for out-of-range layers
    elif encoder.layer_norm_hidden_state:
        selected = last if wanted == -1 else tower.final_layer_norm(states[wanted])
    else:
        selected = states[wanted]
    pooled = last[torch.arange(last.shape[0]), torch.tensor(_end_positions(chunks))]
    if encoder.with_projection:
        projection: Any = encoder.module.get_submodule("text_projection")
        pooled = projection(pooled)
    return selected, pooled


@dataclass(frozen=True, eq=False)
class Clip:
    """The CLIP socket value. Immutable: nodes derive new values with ``with_*`` methods."""

    family: Family
    encoders: tuple[TextEncoder, ...]
    #: CLIPSetLastLayer's value (negative); None means each encoder's default.
    layer: int | None = None
    patches: dict[str, tuple[WeightPatch, ...]] = field(default_factory=dict)
    embeddings: EmbeddingResolver | None = None
    #: SD3/Flux: the T5-XXL encoder (None when loaded without one).
    t5: T5Encoder | None = None

    def with_layer(self, layer: int) -> Clip:
        """CLIPSetLastLayer: read the output of layer ``layer`` (-1 = last)."""
        return replace(self, layer=layer)

    def with_patches(self, encoder_name: str, patches: tuple[WeightPatch, ...]) -> Clip:
        """A copy with LoRA ``patches`` added to encoder ``encoder_name``."""
        merged = dict(self.patches)
        merged[encoder_name] = merged.get(encoder_name, ()) + patches
        return replace(self, patches=merged)

    def with_embeddings(self, resolver: EmbeddingResolver | None) -> Clip:
        """A copy that resolves ``embedding:name`` through ``resolver``."""
        return replace(self, embeddings=resolver)

    def encoder(self, name: str) -> TextEncoder:
        """The encoder called ``name``."""
        for encoder in self.encoders:
            if encoder.name == name:
                return encoder
        raise KeyError(f"this {self.family} CLIP has no {name} encoder (has {[e.name for e in self.encoders]})")

    def _lookup(self, encoder: TextEncoder) -> EmbeddingLookup | None:
        resolver = self.embeddings
        if resolver is None:
            return None

        def lookup(name: str) -> torch.Tensor | None:
            path = resolver(name)
            return None if path is None else load_embedding(path, encoder.name, encoder.width)

        return lookup

    def tokenize(self, text: str, encoder_name: str) -> list[Chunk]:
        """Weighted 77-token chunks of ``text`` for one encoder."""
        encoder = self.encoder(encoder_name)
        return tokenize(text, TokenizerOptions(pad_token=encoder.pad_token), self._lookup(encoder))

    def encode_chunks(self, encoder_name: str, chunks: list[Chunk]) -> EncodedText:
        """Encode chunks with ComfyUI's weighting; pooled output of the first chunk."""
        encoder = self.encoder(encoder_name)
        weighted = any(w != 1.0 for chunk in chunks for _, w in chunk)
        batch = [*chunks, empty_chunk(TokenizerOptions(pad_token=encoder.pad_token))] if weighted else chunks
        with applied(encoder.module, self.patches.get(encoder.name, ())):
            hidden, pooled = run_encoder(encoder, batch, self.layer)
        hidden = hidden.float().cpu()
        if weighted:
            empty = hidden[-1]
            weights = torch.tensor([[w for _, w in chunk] for chunk in chunks], dtype=hidden.dtype)[..., None]
            body = hidden[: len(chunks)]
            hidden = torch.where(weights != 1.0, (body - empty) * weights + empty, body)
        return EncodedText(hidden.reshape(1, -1, hidden.shape[-1]), pooled[:1].float().cpu())

    def encode(self, text: str) -> ConditioningEntry:
        """CLIPTextEncode: the same text for every encoder (SDXL: CLIP-L and CLIP-G outputs concatenated)."""
        if self.family == "sd3":
            return self.encode_texts({"clip_l": text, "clip_g": text, "t5xxl": text})
        return self.encode_texts({encoder.name: text for encoder in self.encoders})

    def encode_texts(self, texts: dict[str, str], **extras: Any) -> ConditioningEntry:
        """Encode a text per encoder; token counts are evened out with empty chunks, as ComfyUI does."""
        if self.family == "sd3":
            from diffusion.text.sd3_text import encode_sd3

            return encode_sd3(self, texts)
        chunks = {name: self.tokenize(text, name) for name, text in texts.items()}
        longest = max(len(c) for c in chunks.values())
        for name, encoder_chunks in chunks.items():
            pad = TokenizerOptions(pad_token=self.encoder(name).pad_token)
            encoder_chunks.extend(empty_chunk(pad) for _ in range(longest - len(encoder_chunks)))
        outputs = [self.encode_chunks(encoder.name, chunks[encoder.name]) for encoder in self.encoders]
        hidden = torch.cat([o.hidden for o in outputs], dim=-1)
        return ConditioningEntry(cross_attn=hidden, pooled_output=outputs[-1].pooled, extras=dict(extras))
