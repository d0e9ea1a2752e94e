"""Rules of the node API found while building the engine (regression tests)."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest

from graph.registry import NodeRegistry
from graph.schema import object_info
from graph.sockets import Socket
from graph.spec import NodeDefinitionError, Outputs, node
from graph.widgets import Allocates, Choices, Hidden, Range, SeedWidget, Text, Toggle


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


class Value(Outputs):
    value: Annotated[int, Socket("INT")]


def define(function: object) -> str:
    """The NodeDefinitionError message of registering `function` as a node now, or "" when it registers."""
    try:
        node("Probe", category="test", registry=NodeRegistry())(function)  # type: ignore[type-var]
    except NodeDefinitionError as error:
        return str(error)
    return ""


def no_default(steps: Annotated[int, Range(1, 10)]) -> Value:
    return Value(value=steps)


def bool_for_int(steps: Annotated[int, Range(0, 10)] = True) -> Value:
    return Value(value=0)


def out_of_range(steps: Annotated[int, Range(1, 10)] = 11) -> Value:
    return Value(value=0)


def off_grid(steps: Annotated[int, Range(0, 10, step=4)] = 3) -> Value:
    return Value(value=0)


def not_a_choice(mode: Literal["a", "b"] = "c") -> Value:  # type: ignore[assignment]
    return Value(value=0)


def wrong_type(ratio: Annotated[float, Range(0.0, 1.0)] = "half") -> Value:  # type: ignore[assignment]
    return Value(value=0)


def too_long(text: Annotated[str, Text(max_length=3)] = "long") -> Value:
    return Value(value=0)


def fine(steps: Annotated[int, Range(0, 10, step=2)] = 4, text: Annotated[str, Text(max_length=3)] = "abc",
         mode: Literal["a", "b"] = "b", hidden: Annotated[str, Hidden("UNIQUE_ID")] = "") -> Value:  # fmt: skip
    return Value(value=steps)


def test_definition_rules_name_the_node_and_the_input() -> None:
    where = "node 'Probe' (test_graph_registry_rules)"
    assert define(no_default) == f"{where}: input 'steps': a widget needs a default"
    assert define(bool_for_int) == f"{where}: input 'steps': default of an INT must be an int, got a bool"
    assert define(out_of_range) == f"{where}: input 'steps': default 11 is outside 1..10"
    assert define(off_grid) == f"{where}: input 'steps': default 3 is not on the step grid 0 + k·4"
    assert define(not_a_choice) == f"{where}: input 'mode': default 'c' is not one of the choices"
    assert define(wrong_type) == f"{where}: input 'ratio': default 'half' is not a float"
    assert define(too_long) == f"{where}: input 'text': default is longer than max_length"
    assert define(fine) == ""


def range_on_text(name: Annotated[str, Range(0, 1)] = "") -> Value:
    return Value(value=0)


def text_on_int(count: Annotated[int, Text()] = 0) -> Value:
    return Value(value=0)


def seed_on_float(seed: Annotated[float, SeedWidget()] = 0.0) -> Value:
    return Value(value=0)


def toggle_on_int(flag: Annotated[int, Toggle()] = 0) -> Value:
    return Value(value=0)


def choices_on_int(pick: Annotated[int, Choices(lambda: ["1"], source="x")] = 0) -> Value:
    return Value(value=0)


def not_a_widget(data: bytes = b"") -> Value:
    return Value(value=0)


def unannotated(data=0) -> Value:  # type: ignore[no-untyped-def]
    return Value(value=0)


class NoSocket(Outputs):
    value: int


def bad_output() -> NoSocket:
    return NoSocket(value=0)


def plain_return() -> int:
    return 0


def test_widget_markers_must_fit_their_type() -> None:
    where = "node 'Probe' (test_graph_registry_rules"
    assert define(range_on_text).startswith(where) and "Range on 'name' needs int or float" in define(range_on_text)
    assert "Text on 'count' needs str" in define(text_on_int)
    assert "a seed 'seed' must be an int" in define(seed_on_float)
    assert "Toggle on 'flag' needs bool" in define(toggle_on_int)
    assert "Choices on 'pick' needs a str parameter" in define(choices_on_int)
    assert "parameter 'data' is neither a socket" in define(not_a_widget)
    assert "parameter 'data' has no type annotation" in define(unannotated)
    assert "output field 'value' needs Annotated[..., Socket(TYPE)]" in define(bad_output)
    assert "the return annotation must be an Outputs subclass" in define(plain_return)


def test_node_defaults_come_from_the_function() -> None:
    from graph.spec import Effects

    registry = NodeRegistry()

    def writer(path: Annotated[str, Text()] = "") -> Value:
        """Writes a file.

        More words."""
        return Value(value=0)

    node("Writer", category="io", registry=registry, effects=Effects.WRITES_FILES, version=3)(writer)
    spec = registry.specs["Writer"]
    assert spec.output_node and spec.display_name == "Writer" and spec.version == 3 and spec.category == "io"
    assert spec.description == "Writes a file.\n\nMore words." and not spec.cacheable and not spec.deprecated
    assert spec.input("path") is not None and spec.input("nope") is None and spec.module == __name__
    node("Quiet", category="io", registry=registry, description="", display_name="Shh")(writer)
    assert registry.specs["Quiet"].description == "" and registry.specs["Quiet"].display_name == "Shh"
    assert not registry.specs["Quiet"].output_node and registry.specs["Quiet"].cacheable
    with pytest.raises(NodeDefinitionError, match="version must be >= 1, got 0"):
        node("Zero", category="io", registry=registry, version=0)(writer)
    with pytest.raises(NodeDefinitionError, match="READS_FILES needs a fingerprint= function"):
        node("Reader", category="io", registry=registry, effects=Effects.READS_FILES)(writer)
