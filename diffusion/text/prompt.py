"""ComfyUI's prompt syntax: weights in parentheses, escapes, ``embedding:name``, and 77-token chunks.

Behaviour (reimplemented from ComfyUI's documented behaviour, not its code):

* ``(text)`` multiplies the weight by 1.1; nesting multiplies again. ``(text:1.3)`` sets the weight
  to 1.3 (absolute, not multiplied). ``\\(`` and ``\\)`` are literal parentheses. An unmatched ``(``
  is literal text. Square brackets have no meaning (ComfyUI keeps them as text).
* The weighted text is split on spaces (newlines count as spaces); each word is tokenized on its
  own. ``embedding:name`` words become that embedding's vectors (a missing embedding is skipped
  with a warning, as ComfyUI does).
* Chunks hold 77 tokens: start, up to 75 tokens, end, padding. A word shorter than 8 tokens that
  does not fit moves whole to the next chunk; longer words are split across chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from diffusion.text.tokenizer import END_TOKEN, START_TOKEN, word_ids

log = logging.getLogger(__name__)

CHUNK_LENGTH = 77
MAX_WORD_TOKENS = 8
EMBEDDING_PREFIX = "embedding:"
_OPEN, _CLOSE = "\0\1", "\0\2"

#: A token is a vocabulary id or one embedding vector (textual inversion).
Token = int | torch.Tensor
Chunk = list[tuple[Token, float]]
#: name -> the embedding's vectors ``[n, width]`` for this encoder, or None when there is none.
EmbeddingLookup = Callable[[str], torch.Tensor | None]


def _escape(text: str) -> str:
    return text.replace("\\(", _OPEN).replace("\\)", _CLOSE)


def _unescape(text: str) -> str:
    return text.replace(_OPEN, "(").replace(_CLOSE, ")")


def _top_level_groups(text: str) -> list[str]:
    """Split into plain runs and balanced ``(...)`` groups at nesting depth 0."""
    groups: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(text):
        if char == "(":
            if depth == 0:
                if i > start:
                    groups.append(text[start:i])
                start = i
            depth += 1
        elif char == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                groups.append(text[start : i + 1])
                start = i + 1
    if start < len(text):
        groups.append(text[start:])
    return groups


def _weighted(text: str, weight: float) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for group in _top_level_groups(text):
        if len(group) >= 2 and group[0] == "(" and group[-1] == ")":
            inner, inner_weight = group[1:-1], weight * 1.1
            colon = inner.rfind(":")
            if colon > 0:
                try:
                    inner_weight = float(inner[colon + 1 :])
                    inner = inner[:colon]
                except ValueError:
                    pass
            out += _weighted(inner, inner_weight)
        else:
            out.append((group, weight))
    return out


def parse_weights(text: str) -> list[tuple[str, float]]:
    """``"a (b:1.5) \\(c\\)"`` -> ``[("a ", 1.0), ("b", 1.5), (" (c)", 1.0)]``."""
    return [(_unescape(part), weight) for part, weight in _weighted(_escape(text), 1.0)]


@dataclass(frozen=True)
class TokenizerOptions:
    """Per-encoder differences: CLIP-L pads with the end token, OpenCLIP with id 0."""

    pad_token: int = END_TOKEN


def _word_groups(text: str, embeddings: EmbeddingLookup | None) -> list[list[tuple[Token, float]]]:
    groups: list[list[tuple[Token, float]]] = []
    for part, weight in parse_weights(text):
        for word in part.replace("\n", " ").split(" "):
            if not word:
                continue
            if word.startswith(EMBEDDING_PREFIX) and embeddings is not None:
                name = word[len(EMBEDDING_PREFIX) :]
                vectors, leftover = embeddings(name), ""
                if vectors is None and name.rstrip(",") != name:
                    # "embedding:name," is common in prompts: the comma stays a separate word
                    name, leftover = name.rstrip(","), name[len(name.rstrip(",")) :]
                    vectors = embeddings(name)
                if vectors is None:
                    log.warning("embedding:%s does not exist, ignoring it", name)
                else:
                    groups.append([(vector, weight) for vector in vectors])
                if not leftover:
                    continue
                word = leftover
            groups.append([(token, weight) for token in word_ids(word)])
    return groups


def tokenize(
    text: str, options: TokenizerOptions = TokenizerOptions(), embeddings: EmbeddingLookup | None = None
) -> list[Chunk]:
    """Weighted tokens of ``text`` in chunks of exactly 77 (start + 75 + end, padded)."""
    body = CHUNK_LENGTH - 1  # room before the end token, the start token included
    chunks: list[Chunk] = []
    chunk: Chunk = [(START_TOKEN, 1.0)]

    def close(current: Chunk) -> None:
        current.append((END_TOKEN, 1.0))
        current.extend([(options.pad_token, 1.0)] * (CHUNK_LENGTH - len(current)))
        chunks.append(current)

    for group in _word_groups(text, embeddings):
        splittable = len(group) >= MAX_WORD_TOKENS
        while group:
            if len(chunk) + len(group) <= body:
                chunk.extend(group)
                break
            if splittable:
                room = body - len(chunk)
                chunk.extend(group[:room])
                group = group[room:]
            close(chunk)
            chunk = [(START_TOKEN, 1.0)]
    close(chunk)
    return chunks


def empty_chunk(options: TokenizerOptions = TokenizerOptions()) -> Chunk:
    """The chunk of the empty prompt: start, end, padding (the reference for weighting)."""
    return tokenize("", options)[0]
