"""The CLIP BPE tokenizer, built offline from the vocabulary file shipped in ``data/`` (MIT, OpenAI)."""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources
from typing import Any

from transformers import CLIPTokenizer

START_TOKEN = 49406
END_TOKEN = 49407
VOCAB_SIZE = 49408
_MERGES = 49152 - 256 - 2


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte table; token ids follow this insertion order, so the order matters."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + i) for i, b in enumerate(others)}}


@cache
def clip_tokenizer() -> CLIPTokenizer:
    """The (shared, read-only) CLIP tokenizer: 49408 ids, "a photo of a cat" -> 49406 320 1125 539 320 2368 49407."""
    raw = resources.files("diffusion.text").joinpath("data", "bpe_simple_vocab_16e6.txt.gz").read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _MERGES + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    # transformers 5 accepts (a, b) pairs although its annotation says list[str].
    pairs: Any = merges
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=pairs, model_max_length=77)


def word_ids(text: str) -> list[int]:
    """BPE ids of ``text`` without the start and end tokens."""
    ids: list[int] = clip_tokenizer()(text, add_special_tokens=False)["input_ids"]
    return ids
