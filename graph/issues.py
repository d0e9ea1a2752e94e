"""What validation reports: `ValidationIssue`, and the size caps it enforces (`Limits`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Combo options listed in an error before the list is shortened.
MAX_LISTED_OPTIONS = 20


@dataclass(frozen=True)
class Limits:
    """Size caps checked at validation, so oversized requests fail with a 400 instead of exhausting memory."""

    max_nodes: int = 10_000
    #: A cap on every text widget on top of its own `Text.max_length`.
    max_text_length: int = 1_000_000
    #: How deeply lists and objects may nest inside a constant input.
    max_nesting: int = 32
    #: width × height × batch_size of one node (EmptyLatentImage and friends); 2**27 ≈ 2048×2048×32.
    max_pixels: int = 2**27


@dataclass(frozen=True)
class ValidationIssue:
    """One reason a workflow is refused. `type` is ComfyUI's error code where one exists."""

    type: str
    message: str
    node_id: str | None = None
    class_type: str | None = None
    input_name: str | None = None
    expected: Any = None
    received: Any = None
    #: Output nodes whose results depend on this node (ComfyUI's `dependent_outputs`).
    dependent_outputs: tuple[str, ...] = ()
    #: More facts for clients: `cycle` (node ids), `linked_node`, `received_type`, `options`.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        """The error code (an alias of `type`)."""
        return self.type


#: The limits used when a caller gives none.
DEFAULT_LIMITS = Limits()
