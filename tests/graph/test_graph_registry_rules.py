"""Rules of the node API found while building the engine (regression tests)."""

from __future__ import annotations

from typing import Annotated

import pytest

from graph.registry import NodeRegistry
from graph.schema import object_info
from graph.sockets import Socket
from graph.spec import NodeDefinitionError, Outputs, node
from graph.widgets import Allocates, Range, Text


class Encoded(Outputs):
    conditioning: Annotated[str, Socket("CONDITIONING")]


def test_text_widgets_may_omit_a_default_like_comfyui_clip_text_encode() -> None:
    registry = NodeRegistry()

    @node("CLIPTextEncode", category="conditioning", registry=registry)
    def encode(text: Annotated[str, Text(multiline=True)], clip: Annotated[str, Socket("CLIP")]) -> Encoded:
        return Encoded(conditioning=text)

    info = object_info(registry.specs["CLIPTextEncode"])
    assert info["input"]["required"]["text"] == ["STRING", {"multiline": True}]
    assert Encoded(conditioning="x").conditioning == "x"  # mypy sees the generated __init__ (dataclass_transform)


def test_numbers_still_need_a_default() -> None:
    registry = NodeRegistry()
    with pytest.raises(NodeDefinitionError, match="input 'steps': a widget needs a default"):

        @node("Bad", category="test", registry=registry)
        def bad(steps: int) -> Encoded:
            return Encoded(conditioning="")


class Area(Outputs):
    area: Annotated[int, Socket("INT")]


Big = Annotated[int, Range(1, 10**6)]


def test_the_pixel_limit_comes_from_the_schema_not_from_input_names() -> None:
    from graph.issues import Limits
    from graph.validate import check_value, validate
    from graph.workflow import Workflow, WorkflowNode

    registry = NodeRegistry()

    @node("Canvas", category="test", registry=registry, output_node=True)
    def canvas(w: Annotated[Big, Allocates("width")] = 1, h: Annotated[Big, Allocates("height")] = 1) -> Area:
        return Area(area=w * h)

    @node("Ruler", category="test", registry=registry, output_node=True)
    def ruler(width: Big = 1, height: Big = 1) -> Area:  # named like sizes, allocates nothing
        return Area(area=width * height)

    limits = Limits(max_pixels=1000)
    huge = {"w": 100, "h": 100}
    (issue,) = validate(Workflow({"1": WorkflowNode("1", "Canvas", huge)}), registry, limits=limits)
    assert issue.type == "resource_limit_exceeded" and issue.input_name == "w"
    assert issue.message.endswith("w × h = 100×100×1 = 10000 pixels is above the limit of 1000")
    assert validate(Workflow({"1": WorkflowNode("1", "Ruler", {"width": 100, "height": 100})}), registry,
                    limits=limits) == []  # fmt: skip
    assert check_value(registry.specs["Canvas"], "w", 5) == []
    with pytest.raises(NodeDefinitionError, match="Allocates on 'label' needs int"):

        @node("Bad", category="test", registry=registry)
        def bad(label: Annotated[str, Allocates("width")] = "") -> Area:
            return Area(area=0)
