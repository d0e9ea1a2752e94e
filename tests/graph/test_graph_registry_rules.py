"""Rules of the node API found while building the engine (regression tests)."""

from __future__ import annotations

from typing import Annotated

import pytest

from graph.registry import NodeRegistry
from graph.schema import object_info
from graph.sockets import Socket
from graph.spec import NodeDefinitionError, Outputs, node
from graph.widgets import Text


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
