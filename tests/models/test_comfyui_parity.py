"""End-to-end parity with ComfyUI v0.3.64 on the shared full-size random SD1.5 checkpoint (slow).

Needs ``bench/.cache/sd15_random.safetensors`` (written by ``bench/bench_load.py`` or by
``/work/shared/parity/make_sd15_random.py``); skipped when it is absent. Exercises loading, prompt
encoding and VAE decoding against ComfyUI's own outputs (sampling is the sampling stack's).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import nodes.conditioning as conditioning_nodes
import nodes.latent as latent_nodes
import nodes.sampling as sampling_nodes
from diffusion.models.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / "bench" / ".cache" / "sd15_random.safetensors"
PARITY = Path("/work/shared/parity")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHECKPOINT.exists() or not PARITY.exists(), reason="full-size random SD1.5 not built"),
]


@pytest.fixture(scope="module")
def sd15():
    return load_checkpoint(CHECKPOINT, device=torch.device("cpu"))


@pytest.mark.parametrize("case", ["euler_normal", "dpmpp_2m_karras"])
def test_txt2img_latent_matches_comfyui(sd15, case):
    model, clip, _ = sd15
    inputs = json.loads((PARITY / case / "workflow.json").read_text())["3"]["inputs"]
    positive = conditioning_nodes.clip_text_encode("a photo of a cat", clip=clip).conditioning
    negative = conditioning_nodes.clip_text_encode("blurry", clip=clip).conditioning
    latent = latent_nodes.empty_latent_image(64, 64, 1).latent
    with torch.no_grad():
        ours = sampling_nodes.ksampler(
            model=model, seed=inputs["seed"], steps=inputs["steps"], cfg=inputs["cfg"],
            sampler_name=inputs["sampler_name"], scheduler=inputs["scheduler"], positive=positive,
            negative=negative, latent_image=latent, denoise=inputs["denoise"],
        ).latent["samples"]  # fmt: skip
    reference = load_file(str(PARITY / case / "10_latents_0.latent"))["latent_tensor"]
    assert ((ours - reference).abs().max() / reference.std()).item() < 1e-3


def test_vae_decode_matches_comfyui_png(sd15):
    _, _, vae = sd15
    reference = load_file(str(PARITY / "euler_normal" / "10_latents_0.latent"))["latent_tensor"]
    ours = np.clip(vae.decode(reference)[0].numpy() * 255.0, 0, 255).astype(np.uint8)
    png = np.array(Image.open(PARITY / "euler_normal" / "9_images_0.png").convert("RGB"))
    assert np.abs(ours.astype(int) - png.astype(int)).max() <= 1
