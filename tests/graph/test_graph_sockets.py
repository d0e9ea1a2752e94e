"""The socket-type vocabulary: one definition per type, used by definitions, links, outputs and the editor."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Annotated

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
    register_socket_type,
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
