"""Primitive and string nodes with ComfyUI's names, inputs and outputs: a constant of each widget type that
several nodes can share through links (PrimitiveInt, ...), and StringConcatenate.

Unlike the frontend-only `PrimitiveNode` (resolved away when a UI workflow is converted), these are real backend
nodes: their outputs are INT/FLOAT/STRING/BOOLEAN sockets that feed widget inputs of the same type.
"""

from __future__ import annotations

import sys
from typing import Annotated

from graph.spec import Outputs, node
from graph.widgets import Range, SeedWidget, Text
from nodes.sockets import BOOLEAN, FLOAT, INT, STRING

CATEGORY = "utils/primitive"


class IntResult(Outputs):
    int: INT


class FloatResult(Outputs):
    float: FLOAT


class StringResult(Outputs):
    string: STRING


class BooleanResult(Outputs):
    boolean: BOOLEAN


@node("PrimitiveString", category=CATEGORY, display_name="String")
def primitive_string(value: Annotated[str, Text()] = "") -> StringResult:
    """A one-line text constant."""
    return StringResult(value)


@node("PrimitiveStringMultiline", category=CATEGORY, display_name="String (Multiline)")
def primitive_string_multiline(value: Annotated[str, Text(multiline=True)] = "") -> StringResult:
    """A multi-line text constant (prompts)."""
    return StringResult(value)


@node("PrimitiveInt", category=CATEGORY, display_name="Int")
def primitive_int(
    value: Annotated[int, Range(-sys.maxsize, sys.maxsize), SeedWidget()] = 0,
) -> IntResult:
    """An integer constant; the editor offers "control after generate" as for seeds."""
    return IntResult(value)


@node("PrimitiveFloat", category=CATEGORY, display_name="Float")
def primitive_float(value: Annotated[float, Range(-sys.maxsize, sys.maxsize, step=0.1)] = 0.0) -> FloatResult:
    """A floating-point constant."""
    return FloatResult(float(value))


@node("PrimitiveBoolean", category=CATEGORY, display_name="Boolean")
def primitive_boolean(value: bool = False) -> BooleanResult:
    """A true/false constant."""
    return BooleanResult(value)


@node("StringConcatenate", category="utils/string", display_name="Concatenate")
def string_concatenate(
    string_a: Annotated[str, Text(multiline=True)] = "",
    string_b: Annotated[str, Text(multiline=True)] = "",
    delimiter: Annotated[str, Text()] = "",
) -> StringResult:
    """string_a + delimiter + string_b."""
    return StringResult(delimiter.join((string_a, string_b)))
