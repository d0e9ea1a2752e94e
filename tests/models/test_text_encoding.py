"""Prompt encoding: equal to diffusers' pipelines for plain prompts; ComfyUI weighting and chunking rules."""

import pytest
import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

from diffusion.models.checkpoint import load_checkpoint
from diffusion.text.prompt import parse_weights, tokenize
from diffusion.text.tokenizer import clip_tokenizer

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def sd1(tiny_sd1_checkpoint):
    return load_checkpoint(tiny_sd1_checkpoint, device=CPU)


@pytest.fixture(scope="module")
def sdxl(tiny_sdxl_checkpoint):
    return load_checkpoint(tiny_sdxl_checkpoint, device=CPU)


def test_tokenizer_known_ids():
    assert clip_tokenizer()("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def sd1_pipeline(tiny):
    return StableDiffusionPipeline(
        vae=tiny.vae,
        text_encoder=tiny.text_encoders[0],
        tokenizer=clip_tokenizer(),
        unet=tiny.unet,
        scheduler=EulerDiscreteScheduler(steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@pytest.mark.parametrize("prompt", ["a photo of a cat", "", "masterpiece, best quality, 1girl, looking at viewer"])
def test_sd1_plain_prompt_equals_diffusers(sd1, tiny_sd1, prompt):
    _, clip, _ = sd1
    expected, _ = sd1_pipeline(tiny_sd1).encode_prompt(prompt, CPU, 1, False)
    ours = clip.encode(prompt)
    assert ours.cross_attn.shape == (1, 77, 32)
    assert torch.equal(ours.cross_attn, expected)


def test_sd1_clip_skip_equals_diffusers(sd1, tiny_sd1):
    _, clip, _ = sd1
    tower = tiny_sd1.text_encoders[0]
    ids = clip_tokenizer()("a photo of a cat", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = tower(ids, output_hidden_states=True).hidden_states[-2]
        expected = tower.final_layer_norm(hidden)
    assert torch.equal(clip.with_layer(-2).encode("a photo of a cat").cross_attn, expected)


def test_sdxl_plain_prompt_equals_diffusers(sdxl, tiny_sdxl):
    _, clip, _ = sdxl
    tok2 = _pad_bang_tokenizer()
    pipe = StableDiffusionXLPipeline(
        vae=tiny_sdxl.vae,
        text_encoder=tiny_sdxl.text_encoders[0],
        text_encoder_2=tiny_sdxl.text_encoders[1],
        tokenizer=clip_tokenizer(),
        tokenizer_2=tok2,
        unet=tiny_sdxl.unet,
        scheduler=EulerDiscreteScheduler(steps_offset=1),
    )
    embeds, _, pooled, _ = pipe.encode_prompt(
        "a photo of a cat", device=CPU, num_images_per_prompt=1, do_classifier_free_guidance=False
    )
    ours = clip.encode("a photo of a cat")
    assert ours.cross_attn.shape == (1, 77, 64)
    assert torch.equal(ours.cross_attn, embeds)
    assert torch.equal(ours.pooled_output, pooled)


def _pad_bang_tokenizer():
    """SDXL's second tokenizer pads with "!" (id 0), like OpenCLIP."""
    import copy

    tok = copy.deepcopy(clip_tokenizer())
    tok.pad_token = "!"
    return tok


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a cat", [("a cat", 1.0)]),
        ("(cat)", [("cat", 1.1)]),
        ("((cat))", [("cat", pytest.approx(1.21))]),
        ("(cat:1.5) dog", [("cat", 1.5), (" dog", 1.0)]),
        ("((cat:0.5))", [("cat", 0.5)]),
        ("(a (b:2) c)", [("a ", 1.1), ("b", 2.0), (" c", 1.1)]),
        ("\\(cat\\)", [("(cat)", 1.0)]),
        ("[cat]", [("[cat]", 1.0)]),
        ("(cat", [("(cat", 1.0)]),
        ("(cat:big)", [("cat:big", 1.1)]),
        ("(12:00:1.3)", [("12:00", 1.3)]),
    ],
)
def test_parse_weights_follows_comfyui(text, expected):
    assert parse_weights(text) == expected


def test_chunking_rules():
    # 75 single-token words fill one chunk; one more starts a second.
    assert len(tokenize(" ".join(["cat"] * 75))) == 1
    chunks = tokenize(" ".join(["cat"] * 76))
    assert len(chunks) == 2 and all(len(c) == 77 for c in chunks)
    assert [t for t, _ in chunks[1][:3]] == [49406, 2368, 49407]
    # a short multi-token word that does not fit moves whole to the next chunk
    word = "photorealistic"  # several BPE tokens, fewer than 8
    n = len(tokenize(word)[0]) - 2 - tokenize(word)[0].count((49407, 1.0)) + 1
    assert 1 < n < 8
    chunks = tokenize(" ".join(["cat"] * 74) + " " + word)
    assert len(chunks) == 2 and chunks[0][75][0] == 49407 and chunks[1][1][0] != 49406
    # padding: CLIP-L pads with the end token
    assert tokenize("")[0][:3] == [(49406, 1.0), (49407, 1.0), (49407, 1.0)]


def test_long_words_are_split_across_chunks():
    word = "x" * 60  # far more than 8 tokens
    tokens = tokenize(" ".join(["cat"] * 70) + " " + word)
    assert len(tokens) == 2
    assert tokens[0][75][0] != 49407 and tokens[0][76][0] == 49407  # chunk 0 is filled to the end


def test_weight_applied_relative_to_empty_prompt(sd1):
    _, clip, _ = sd1
    plain = clip.encode("a cat sitting").cross_attn[0]
    weighted = clip.encode("a (cat:1.5) sitting").cross_attn[0]
    empty = clip.encode("").cross_attn[0]
    cat = 2  # start, "a", "cat"
    torch.testing.assert_close(weighted[cat], (plain[cat] - empty[cat]) * 1.5 + empty[cat], rtol=0, atol=1e-6)
    others = [i for i in range(77) if i != cat]
    assert torch.equal(weighted[others], plain[others])


def test_long_prompt_is_encoded_per_chunk(sd1):
    _, clip, _ = sd1
    words = ["cat"] * 75 + ["dog"] * 10
    long = clip.encode(" ".join(words))
    assert long.cross_attn.shape == (1, 154, 32)
    first = clip.encode(" ".join(words[:75])).cross_attn
    second = clip.encode(" ".join(words[75:])).cross_attn
    assert torch.equal(long.cross_attn, torch.cat([first, second], dim=1))
    assert torch.equal(long.pooled_output, clip.encode(" ".join(words[:75])).pooled_output)


def test_textual_inversion_embedding(sd1, tmp_path):
    from safetensors.torch import save_file

    _, clip, _ = sd1
    vectors = torch.randn(2, 32, generator=torch.Generator().manual_seed(3))
    save_file({"emb_params": vectors}, str(tmp_path / "myemb.safetensors"))
    resolver = lambda name: tmp_path / f"{name}.safetensors" if (tmp_path / f"{name}.safetensors").exists() else None  # noqa: E731
    clip_e = clip.with_embeddings(resolver)
    chunk = clip_e.tokenize("a embedding:myemb cat", "clip_l")[0]
    assert isinstance(chunk[2][0], torch.Tensor) and torch.equal(chunk[3][0], vectors[1])
    assert chunk[4][0] == 2368
    # the vectors are fed in place of token embeddings: changing them changes the output there
    encoded = clip_e.encode("a embedding:myemb cat").cross_attn
    assert encoded.shape == (1, 77, 32)
    assert not torch.equal(encoded, clip.encode("a cat").cross_attn)
    # a trailing comma is not part of the name; it is tokenized as its own word
    chunk = clip_e.tokenize("embedding:myemb, cat", "clip_l")[0]
    assert isinstance(chunk[2][0], torch.Tensor) and [t for t, _ in chunk[3:5]] == [267, 2368]
    # a missing embedding is skipped with a warning, as ComfyUI does
    assert torch.equal(clip_e.encode("a embedding:missing cat").cross_attn, clip.encode("a cat").cross_attn)


def test_clip_skip_on_sdxl_reads_unnormalised_layers(sdxl, tiny_sdxl):
    _, clip, _ = sdxl
    tower = tiny_sdxl.text_encoders[0]
    ids = clip_tokenizer()("a cat", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        out = tower(ids, output_hidden_states=True)
    l_half = clip.with_layer(-1).encode("a cat").cross_attn[..., :32]
    assert torch.equal(l_half, out.hidden_states[-1])  # SDXL: no final layer norm on the chosen layer
    out_of_range = clip.with_layer(-24).encode("a cat").cross_attn[..., :32]
    assert torch.equal(out_of_range, out.last_hidden_state)  # beyond the depth: the final output
