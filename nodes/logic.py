"""ComfyUI's Switch node (`ComfySwitchNode`) and PreviewAny: routing and showing values of any type.

ComfyUI evaluates only the chosen branch of a switch (lazy inputs). This engine has no lazy inputs yet, so both
branches run and the switch passes on the chosen value: the result is the same, the unchosen branch costs time.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from graph.sockets import Socket
from graph.spec import NoOutputs, Outputs, node
from graph.widgets import Label

AnyValue = Annotated[Any, Socket("*")]


class Switched(Outputs):
    output: Annotated[Any, Socket("*"), Label("output")]


@node("ComfySwitchNode", category="logic", display_name="Switch")
def switch_node(switch: bool = False, on_false: AnyValue = None, on_true: AnyValue = None) -> Switched:
    """Pass on `on_true` when the switch is on, `on_false` when it is off (both inputs carry the same type).

    The socket defaults only satisfy Python's parameter order: both inputs are required links.
    """
    return Switched(on_true if switch else on_false)


def preview_text(value: Any) -> str:
    """How PreviewAny shows a value: text as is, numbers and booleans as text, the rest as JSON when it can."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    try:
        return json.dumps(value, indent=4)
    except (TypeError, ValueError):
        return f"<{type(value).__name__}>"


@node("PreviewAny", category="utils", display_name="Preview Any", output_node=True)
def preview_any(source: AnyValue) -> NoOutputs:
    """Show any value as text on the node."""
    return NoOutputs(ui={"text": [preview_text(source)]})
