"""The socket-type vocabulary: one definition per type, used by definitions, links, outputs and the editor."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Annotated, Protocol

import pytest

from graph.executor import Executor, InterruptFlag
from graph.registry import NodeRegistry
from graph.sockets import (
    BUILTIN_TYPES,
    SOCKET_TYPES,
    Socket,
    SocketType,
    SocketTypes,
    editor_json,
    is_known_socket_type,
    register_socket_type,
    socket_type,
    types_compatible,
)
from graph.spec import NodeDefinitionError, Outputs, node
from graph.workflow import Workflow, WorkflowNode

ROOT = Path(__file__).resolve().parents[2]


def test_the_editor_palette_is_written_from_the_vocabulary() -> None:
    # Regenerate with: python -m graph.sockets > web/src/socketTypes.json
    on_disk = json.loads((ROOT / "web/src/socketTypes.json").read_text())
    assert on_disk == json.loads(editor_json())
    assert set(on_disk) == {item.name for item in BUILTIN_TYPES} | {"*"}


def test_the_catalog_types_are_declared_with_comfyui_spelling() -> None:
    for name in ("MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK", "CONTROL_NET", "SIGMAS",
                 "SAMPLER", "GUIDER", "NOISE", "CLIP_VISION", "CLIP_VISION_OUTPUT", "STYLE_MODEL",
                 "UPSCALE_MODEL", "LATENT_OPERATION", "INT", "FLOAT", "STRING", "BOOLEAN"):  # fmt: skip
        assert name in SOCKET_TYPES, name
    assert len({item.color for item in BUILTIN_TYPES}) == len(BUILTIN_TYPES), "two types share a colour"


def test_a_plugin_type_registers_once_and_cannot_be_redefined() -> None:
    vocabulary = SocketTypes()
    first = vocabulary.register(SocketType("POINT_CLOUD", "my_pack:PointCloud", "#123456"))
    assert vocabulary.register(SocketType("POINT_CLOUD", "my_pack:PointCloud", "#123456")) == first
    with pytest.raises(ValueError, match="already defined"):
        vocabulary.register(SocketType("POINT_CLOUD", "other_pack:Cloud", "#123456"))
    with pytest.raises(ValueError, match="upper-case identifiers"):
        vocabulary.register(SocketType("point-cloud", "", ""))
    assert vocabulary.is_known("POINT_CLOUD") and vocabulary.is_known("*")
    assert not vocabulary.is_known("MODEL")  # a value of its own: nothing leaks in from the global one
    assert register_socket_type("TEST_ONLY_TYPE") == register_socket_type("TEST_ONLY_TYPE")


def test_unions_are_known_when_every_part_is() -> None:
    assert SOCKET_TYPES.is_known("INT,FLOAT")
    assert not SOCKET_TYPES.is_known("INT,NOT_A_TYPE")
    assert types_compatible("INT", "FLOAT,INT") and not types_compatible("STRING", "FLOAT,INT")
    assert types_compatible("*", "MODEL") and types_compatible("LATENT", "*")
    assert not types_compatible("CLIP", "LATENT")


def test_values_are_checked_against_the_class_the_vocabulary_names() -> None:
    integer = SOCKET_TYPES.get("INT")
    floating = SOCKET_TYPES.get("FLOAT")
    assert integer is not None and floating is not None
    assert integer.accepts(3) and not integer.accepts(True) and not integer.accepts("3")
    assert floating.accepts(0.5) and floating.accepts(2) and not floating.accepts("0.5")
    never_loaded = SocketType("GHOST", "a_module_nobody_imported:Ghost", "#000000")
    assert not never_loaded.accepts(object())
    opaque = SocketType("OPAQUE", "", "#000000")
    assert opaque.accepts(object())
    assert opaque.python_class_name == "any object" and integer.python_class_name == "int"


class Number(Outputs):
    value: Annotated[int, Socket("INT")]


def test_the_executor_refuses_an_output_of_the_wrong_class() -> None:
    registry = NodeRegistry()

    @node("LiesAboutItsType", category="test", registry=registry, output_node=True)
    def lies() -> Number:
        return Number(value=typing.cast(int, "seven"))

    workflow = Workflow({"1": WorkflowNode("1", "LiesAboutItsType", {})})
    result = Executor(registry).run(workflow, job_id="j", emit=lambda event: None, interrupt=InterruptFlag())
    assert result.status == "failed" and result.error is not None
    assert result.error.message == "node LiesAboutItsType returned a str on output 'value', expected a INT (int)"


class Odd(Outputs):
    thing: Annotated[int, Socket("NOT_DECLARED")]


def test_a_node_using_an_undeclared_type_is_refused() -> None:
    with pytest.raises(NodeDefinitionError, match="unknown socket type 'NOT_DECLARED'"):

        @node("Odd", category="test", registry=NodeRegistry())
        def odd() -> Odd:
            return Odd(thing=1)


class Shaped(Protocol):
    """A structural type: the vocabulary cannot check it at run time, so it accepts anything."""

    def area(self) -> float: ...


def not_a_class() -> None:
    """A python_type naming something that is not a class: nothing to check against."""


def test_the_editor_palette_file_is_byte_for_byte_what_the_vocabulary_writes() -> None:
    assert (ROOT / "web/src/socketTypes.json").read_text() == editor_json()
    assert editor_json().startswith('{\n  "MODEL": {\n    "color": "#b39ddb",')


def test_a_vocabulary_value_registers_what_it_is_given_and_iterates_in_order() -> None:
    first, second = SocketType("FIRST", "builtins:int", "#1"), SocketType("SECOND", "", "#2")
    vocabulary = SocketTypes((first, second))
    assert list(vocabulary) == [first, second] and "FIRST" in vocabulary and "THIRD" not in vocabulary
    untyped = vocabulary.untyped()
    assert [item.name for item in untyped] == ["FIRST", "SECOND"]
    assert [item.python_type for item in untyped] == ["", ""] and [item.color for item in untyped] == ["#1", "#2"]
    assert untyped.get("FIRST") is not None and untyped.get("FIRST").accepts("not an int")  # type: ignore[union-attr]
    assert vocabulary.get("FIRST") == first and not first.accepts("not an int")  # the original is unchanged
    for bad in ("lower", "MIXED_case", "DASH-ED", "SPACE D", ""):
        with pytest.raises(ValueError, match="upper-case identifiers"):
            vocabulary.register(SocketType(bad, "", ""))
    assert vocabulary.register(SocketType("UNDER_SCORED_2", "", "")).name == "UNDER_SCORED_2"


def test_register_socket_type_keeps_the_class_and_description() -> None:
    made = register_socket_type("TEST_POINT", python_type="builtins:complex", description="a point")
    assert made == SocketType("TEST_POINT", "builtins:complex", "", "a point")
    assert SOCKET_TYPES.get("TEST_POINT") == made and made.accepts(1j) and not made.accepts(1.0)


def test_structural_and_non_class_types_are_not_checked() -> None:
    shaped = SocketType("SHAPED", f"{__name__}:Shaped", "#0")
    function = SocketType("FUNCTION", f"{__name__}:not_a_class", "#0")
    assert shaped.accepts(object()) and function.accepts(object())
    mapping = SocketType("DICT", "builtins:dict", "#0")
    assert mapping.accepts({}) and not mapping.accepts([])
    assert SocketType("NESTED", f"{__name__}:SocketTypes.untyped", "#0").accepts(3)  # a function inside a class


def test_unions_match_on_either_side() -> None:
    assert types_compatible("INT,FLOAT", "FLOAT") and types_compatible("FLOAT", "INT,FLOAT")
    assert types_compatible("A,B", "C,B") and not types_compatible("A,B", "C,D")
    assert not types_compatible("INT,FLOAT", "STRING") and not types_compatible("STRING", "INT,FLOAT")


def test_the_process_wide_lookups() -> None:
    assert socket_type("LATENT") is SOCKET_TYPES.get("LATENT") and socket_type("NOPE") is None
    assert is_known_socket_type("LATENT") and is_known_socket_type("*") and not is_known_socket_type("NOPE")
