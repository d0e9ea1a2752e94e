"""Stub nodes for the engine tests: ComfyUI's core names, inputs and order, trivial bodies, no torch.

Each call is recorded in CALLS, so tests can assert exactly which nodes ran.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from graph.registry import NodeRegistry
from graph.runtime import check_interrupt, report_progress
from graph.sockets import SOCKET_TYPES, Socket, register_socket_type
from graph.spec import Effects, NoOutputs, Outputs, node
from graph.widgets import (
    MAX_RESOLUTION,
    Allocates,
    Choices,
    ForceInput,
    Hidden,
    ImageUpload,
    OptionalInput,
    Range,
    Seed,
    Text,
)

register_socket_type("NUMBER")

#: Stub values are strings and numbers: the vocabulary's names without its Python classes.
STUBS = NodeRegistry(socket_types=SOCKET_TYPES.untyped())
CALLS: list[str] = []
CHECKPOINTS = ["sd15.safetensors", "sdxl.safetensors"]
INPUT_IMAGES = ["example.png", "cat.png"]
#: What LoadImage's fingerprint sees; tests change it to simulate an edited file.
FILE_VERSIONS: dict[str, str] = {"example.png": "v1", "cat.png": "v1"}
SAVED: list[dict[str, Any]] = []

Sampler = Literal["euler", "euler_ancestral", "heun", "dpmpp_2m"]
Scheduler = Literal["normal", "karras", "exponential", "simple"]


class Checkpoint(Outputs):
    model: Annotated[str, Socket("MODEL")]
    clip: Annotated[str, Socket("CLIP")]
    vae: Annotated[str, Socket("VAE")]


@node("CheckpointLoaderSimple", category="loaders", registry=STUBS)
def checkpoint_loader(ckpt_name: Annotated[str, Choices(lambda: CHECKPOINTS, source="checkpoints")]) -> Checkpoint:
    CALLS.append("CheckpointLoaderSimple")
    return Checkpoint(model=f"model({ckpt_name})", clip=f"clip({ckpt_name})", vae=f"vae({ckpt_name})")


class Conditioning(Outputs):
    conditioning: Annotated[str, Socket("CONDITIONING")]


@node("CLIPTextEncode", category="conditioning", registry=STUBS)
def clip_text_encode(
    text: Annotated[str, Text(multiline=True, max_length=1000)] = "", clip: Annotated[str, Socket("CLIP")] = ""
) -> Conditioning:
    CALLS.append("CLIPTextEncode")
    return Conditioning(conditioning=f"cond({clip},{text})")


class Latent(Outputs):
    latent: Annotated[dict[str, Any], Socket("LATENT")]


@node("EmptyLatentImage", category="latent", registry=STUBS)
def empty_latent(
    width: Annotated[int, Range(16, MAX_RESOLUTION, step=8), Allocates("width")] = 512,
    height: Annotated[int, Range(16, MAX_RESOLUTION, step=8), Allocates("height")] = 512,
    batch_size: Annotated[int, Range(1, 4096), Allocates("batch")] = 1,
) -> Latent:
    CALLS.append("EmptyLatentImage")
    return Latent(latent={"samples": f"zeros({batch_size},{height},{width})"})


@node("KSampler", category="sampling", registry=STUBS)
def ksampler(
    model: Annotated[str, Socket("MODEL")],
    seed: Seed = 0,
    steps: Annotated[int, Range(1, 10000)] = 20,
    cfg: Annotated[float, Range(0.0, 100.0, step=0.1, round=0.01)] = 8.0,
    sampler_name: Sampler = "euler",
    scheduler: Scheduler = "normal",
    positive: Annotated[str, Socket("CONDITIONING")] = "",
    negative: Annotated[str, Socket("CONDITIONING")] = "",
    latent_image: Annotated[dict[str, Any] | None, Socket("LATENT")] = None,
    denoise: Annotated[float, Range(0.0, 1.0, step=0.01)] = 1.0,
) -> Latent:
    CALLS.append("KSampler")
    for step in range(3):
        report_progress(step + 1, 3)
    assert isinstance(cfg, float)
    return Latent(latent={"samples": f"sampled({model},{seed},{steps},{cfg},{sampler_name},{positive},{negative})"})


class Image(Outputs):
    image: Annotated[str, Socket("IMAGE")]


@node("VAEDecode", category="latent", registry=STUBS)
def vae_decode(samples: Annotated[dict[str, Any], Socket("LATENT")], vae: Annotated[str, Socket("VAE")]) -> Image:
    CALLS.append("VAEDecode")
    return Image(image=f"decoded({samples['samples']})")


@node("SaveImage", category="image", effects=Effects.WRITES_FILES, registry=STUBS)
def save_image(
    images: Annotated[str, Socket("IMAGE")],
    filename_prefix: Annotated[str, Text()] = "ComfyUI",
    prompt: Annotated[dict[str, Any] | None, Hidden("PROMPT")] = None,
    extra_pnginfo: Annotated[dict[str, Any] | None, Hidden("EXTRA_PNGINFO")] = None,
) -> NoOutputs:
    CALLS.append("SaveImage")
    SAVED.append({"images": images, "prompt": prompt, "extra_pnginfo": extra_pnginfo})
    return NoOutputs(ui={"images": [{"filename": f"{filename_prefix}_00001_.png", "subfolder": "", "type": "output"}]})


@node("PreviewImage", category="image", output_node=True, registry=STUBS)
def preview_image(images: Annotated[str, Socket("IMAGE")]) -> NoOutputs:
    CALLS.append("PreviewImage")
    return NoOutputs(ui={"images": [{"filename": "preview.png", "subfolder": "", "type": "temp"}]})


class LoadedImage(Outputs):
    image: Annotated[str, Socket("IMAGE")]
    mask: Annotated[str, Socket("MASK")]


@node(
    "LoadImage",
    category="image",
    effects=Effects.READS_FILES,
    fingerprint=lambda values: FILE_VERSIONS[values["image"]],
    registry=STUBS,
)
def load_image(
    image: Annotated[str, Choices(lambda: INPUT_IMAGES, source="input images"), ImageUpload()],
) -> LoadedImage:
    CALLS.append("LoadImage")
    return LoadedImage(image=f"image({image},{FILE_VERSIONS[image]})", mask="mask")


class Number(Outputs):
    value: Annotated[int, Socket("NUMBER")]


@node("Const", category="test", registry=STUBS)
def const(value: Annotated[int, Range(-(2**31), 2**31)] = 0) -> Number:
    CALLS.append("Const")
    return Number(value=value)


@node("Inc", category="test", registry=STUBS)
def inc(x: Annotated[int, Socket("NUMBER")], by: Annotated[int, Range(-100, 100)] = 1) -> Number:
    CALLS.append("Inc")
    return Number(value=x + by)


@node("Sum", category="test", registry=STUBS)
def add(
    a: Annotated[int, Socket("NUMBER")],
    b: Annotated[int, Socket("NUMBER"), OptionalInput()] = 0,
) -> Number:
    CALLS.append("Sum")
    return Number(value=a + b)


@node("Show", category="test", output_node=True, registry=STUBS)
def show(x: Annotated[int, Socket("NUMBER")], label: Annotated[str, Text()] = "") -> NoOutputs:
    CALLS.append("Show")
    return NoOutputs(ui={"value": [x], "label": [label]})


@node("Random", category="test", effects=Effects.NONDETERMINISTIC, registry=STUBS)
def random_number() -> Number:
    CALLS.append("Random")
    return Number(value=4)


@node("Boom", category="test", registry=STUBS)
def boom(x: Annotated[int, Socket("NUMBER")], fail: bool = True) -> Number:
    CALLS.append("Boom")
    if fail:
        raise ValueError(f"boom at {x}")
    return Number(value=x)


@node("Slow", category="test", registry=STUBS)
def slow(x: Annotated[int, Socket("NUMBER")], steps: Annotated[int, Range(1, 1000)] = 10) -> Number:
    CALLS.append("Slow")
    for step in range(steps):
        check_interrupt()
        report_progress(step + 1, steps)
    return Number(value=x)


@node("IntToText", category="test", registry=STUBS)
def int_to_text(x: Annotated[int, Socket("NUMBER")]) -> Number:
    return Number(value=x)


class IntValue(Outputs):
    value: Annotated[int, Socket("INT")]


@node("PrimitiveInt", category="test", registry=STUBS)
def primitive_int(value: Annotated[int, Range(-(2**63), 2**63 - 1)] = 0) -> IntValue:
    return IntValue(value=value)


@node("Scale", category="test", registry=STUBS)
def scale(
    x: Annotated[int, Socket("NUMBER")],
    factor: Annotated[int, Range(1, 10)] = 2,
    mode: Literal["fast", "slow"] = "fast",
    strength: Annotated[float, Range(0.0, 1.0, step=0.01)] = 0.5,
    flag: bool = False,
    note: Annotated[str, Text(), OptionalInput()] = "",
    bias: Annotated[int, ForceInput(), OptionalInput()] = 0,
    node_id: Annotated[str, Hidden("UNIQUE_ID")] = "",
) -> Number:
    CALLS.append("Scale")
    return Number(value=x * factor + bias)


@node("Liar", category="test", registry=STUBS)
def liar(x: Annotated[int, Socket("NUMBER")]) -> Number:
    return x  # type: ignore[return-value]  # deliberately wrong: the executor must catch it


def reset() -> None:
    CALLS.clear()
    SAVED.clear()
    for name in FILE_VERSIONS:
        FILE_VERSIONS[name] = "v1"
