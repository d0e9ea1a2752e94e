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


def test_range_problems_and_number_formatting() -> None:
    from graph.registry import format_number, range_problem
    from graph.spec import InputSpec

    def spec(widget: str, limits: Range | None) -> InputSpec:
        return InputSpec("v", "required", widget, is_socket=False, widget=widget, range=limits)  # type: ignore[arg-type]

    steps = spec("INT", Range(0, 10, step=2))
    assert range_problem(4, steps) is None and range_problem(10, steps) is None and range_problem(0, steps) is None
    assert range_problem(11, steps) == "is outside 0..10" and range_problem(-1, steps) == "is outside 0..10"
    assert range_problem(3, steps) == "is not on the step grid 0 + k·2"
    rounded = spec("FLOAT", Range(0.0, 1.0, step=0.5, round=0.25))
    assert range_problem(0.75, rounded) is None  # FLOATs sit on their `round` grid, not on `step`
    assert range_problem(0.3, rounded) == "is not on the step grid 0 + k·0.25"
    stepped_int = spec("INT", Range(0, 10, step=4, round=1))
    assert range_problem(2, stepped_int) == "is not on the step grid 0 + k·4"  # `round` is for FLOATs only
    assert range_problem(5, spec("INT", None)) is None
    unit = spec("FLOAT", Range(0.0, 1.0))
    assert range_problem(1.0, unit) is None and range_problem(0.0, unit) is None and range_problem(1.5, unit)
    assert [format_number(value) for value in (3, 3.0, 2.5, -4.0, 2**64, 2.0**63)] == [
        "3", "3", "2.5", "-4", "18446744073709551616", "9223372036854775808",
    ]  # fmt: skip
    assert format_number(float(2**64)) == repr(float(2**64))  # past 2**64 a float is shown as it is


def test_the_compatibility_view_logs_a_clash_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    from graph.registry import REGISTRY

    @node("CompatClash", category="test")
    def first() -> Encoded:
        return Encoded(conditioning="")

    assert REGISTRY.get("CompatClash") is not None

    def second() -> Encoded:
        return Encoded(conditioning="")

    second.__module__ = "another.module"
    node("CompatClash", category="test")(second)
    with caplog.at_level("WARNING", logger="graph.registry"):
        assert REGISTRY.get("CompatClash") is not None
    assert "node id 'CompatClash' from another.module is already registered by" in caplog.text
