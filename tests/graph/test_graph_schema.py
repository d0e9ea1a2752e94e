"""ComfyUI's /object_info shape, field for field, for a node that uses every marker of the node API.

The node is defined inside the test, so the whole path (signature → NodeSpec → schema) runs under test.
"""

from __future__ import annotations

from typing import Annotated, Literal

from graph.registry import NodeRegistry
from graph.schema import object_info
from graph.sockets import Socket
from graph.spec import Outputs, node
from graph.widgets import (
    Choices,
    ForceInput,
    Hidden,
    ImageUpload,
    Label,
    OptionalInput,
    Range,
    Seed,
    Text,
    Toggle,
    Tooltip,
)


class Everything(Outputs):
    image: Annotated[str, Socket("IMAGE"), Tooltip("the picture")]
    mask: Annotated[str, Socket("MASK"), Label("the_mask")]


class Plain(Outputs):
    latent: Annotated[str, Socket("LATENT")]


def everything(
    model: Annotated[str, Socket("MODEL"), Tooltip("the model")],
    seed: Seed = 7,
    steps: Annotated[int, Range(1, 100, step=1)] = 20,
    cfg: Annotated[float, Range(0.0, 30.0, step=0.5, round=0.01, display="slider")] = 8.0,
    sampler: Literal["euler", "heun"] = "heun",
    text: Annotated[str, Text(multiline=True, dynamic_prompts=True, placeholder="say it")] = "",
    image: Annotated[str, Choices(lambda: ["a.png", "b.png"], source="input images"), ImageUpload()] = "a.png",
    flag: Annotated[bool, Toggle("on", "off")] = True,
    plain_text: Annotated[str, Text()] = "x",
    number: Annotated[int, ForceInput(), OptionalInput()] = 0,
    extra: Annotated[str | None, Socket("LATENT"), OptionalInput()] = None,
    prompt: Annotated[dict[str, object] | None, Hidden("PROMPT")] = None,
    unique_id: Annotated[str, Hidden("UNIQUE_ID")] = "",
) -> Everything:
    """Takes everything."""
    return Everything(image="", mask="")


def test_object_info_of_a_node_using_every_marker() -> None:
    registry = NodeRegistry()
    node("Everything", category="tests/schema", display_name="Every Thing", registry=registry, deprecated=True)(
        everything
    )
    assert object_info(registry.specs["Everything"]) == {
        "input": {
            "required": {
                "model": ["MODEL", {"tooltip": "the model"}],
                "seed": ["INT", {"default": 7, "min": 0, "max": 2**64 - 1, "control_after_generate": True}],
                "steps": ["INT", {"default": 20, "min": 1, "max": 100, "step": 1}],
                "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 30.0, "step": 0.5, "round": 0.01,
                                  "display": "slider"}],
                "sampler": [["euler", "heun"], {"default": "heun"}],
                "text": ["STRING", {"default": "", "multiline": True, "dynamicPrompts": True,
                                    "placeholder": "say it"}],
                "image": [["a.png", "b.png"], {"default": "a.png", "image_upload": True}],
                "flag": ["BOOLEAN", {"default": True, "label_on": "on", "label_off": "off"}],
                "plain_text": ["STRING", {"default": "x"}],
            },
            "optional": {"number": ["INT", {"default": 0, "forceInput": True}], "extra": ["LATENT"]},
            "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"},
        },
        "input_order": {
            "required": ["model", "seed", "steps", "cfg", "sampler", "text", "image", "flag", "plain_text"],
            "optional": ["number", "extra"],
            "hidden": ["prompt", "unique_id"],
        },
        "output": ["IMAGE", "MASK"],
        "output_is_list": [False, False],
        "output_name": ["IMAGE", "the_mask"],
        "output_tooltips": ["the picture", ""],
        "name": "Everything",
        "display_name": "Every Thing",
        "description": "Takes everything.",
        "python_module": __name__,
        "category": "tests/schema",
        "output_node": False,
        "deprecated": True,
    }  # fmt: skip


def test_a_plain_node_has_no_optional_fields() -> None:
    registry = NodeRegistry()

    @node("Plain", category="tests", registry=registry, output_node=True, description="")
    def plain(choice: Literal[1, 2] = 1) -> Plain:
        return Plain(latent="")

    info = object_info(registry.specs["Plain"])
    assert info["input"] == {"required": {"choice": [[1, 2], {"default": 1}]}}
    assert info["input_order"] == {"required": ["choice"]}
    assert "output_tooltips" not in info and "deprecated" not in info
    assert info["output_node"] is True and info["description"] == "" and info["display_name"] == "Plain"
    assert info["output"] == ["LATENT"] and info["output_name"] == ["LATENT"] and info["output_is_list"] == [False]
