"""Markers that turn an `Annotated` scalar parameter into a widget with limits.

    steps: Annotated[int, Range(1, 10000)] = 20
    cfg: Annotated[float, Range(0.0, 100.0, step=0.1, round=0.01)] = 8.0
    text: Annotated[str, Text(multiline=True)] = ""
    ckpt_name: Annotated[str, Choices(list_checkpoints, source="checkpoints")]
    seed: Seed = 0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

#: The default cap on text widgets (characters); a prompt longer than this is refused, not truncated.
DEFAULT_MAX_TEXT_LENGTH = 100_000
#: ComfyUI's MAX_RESOLUTION, the upper bound of width/height widgets.
MAX_RESOLUTION = 16384
SEED_MAX = 2**64 - 1


@dataclass(frozen=True)
class Range:
    """Numeric limits of an INT or FLOAT widget. `round` is the precision a FLOAT must sit on (ComfyUI's);
    ``round=False`` (ComfyUI's ``round: False``) accepts any value in range, off the step grid too."""

    min: float
    max: float
    step: float | None = None
    round: float | Literal[False] | None = None
    display: Literal["number", "slider"] = "number"


@dataclass(frozen=True)
class Text:
    """A STRING widget."""

    multiline: bool = False
    max_length: int = DEFAULT_MAX_TEXT_LENGTH
    dynamic_prompts: bool = False
    placeholder: str = ""
    #: A check of the text made at validation, before anything runs: returns why the value is refused, or None.
    #: File-name prefixes use it (folders.output_prefix_problem), so `../x` fails before a sampling run.
    check: Callable[[str], str | None] | None = None


@dataclass(frozen=True)
class Choices:
    """A combo whose options come from a function called at schema and validation time (files in a folder)."""

    provider: Callable[[], Sequence[str]]
    #: What the options are, for the editor and error messages ("checkpoints", "input images").
    source: str
    #: What to tell a user whose list is empty (where to put the files), added to the validation error.
    empty_hint: Callable[[], str] | None = None


@dataclass(frozen=True)
class SeedWidget:
    """Marks an INT widget as a seed: the editor offers "control after generate" (fixed/increment/...)."""

    control_after_generate: bool = True


@dataclass(frozen=True)
class Toggle:
    """Labels for a BOOLEAN widget."""

    label_on: str = "true"
    label_off: str = "false"


@dataclass(frozen=True)
class Tooltip:
    """Help text shown on hover for an input or an output."""

    text: str


@dataclass(frozen=True)
class Allocates:
    """An INT input that is one dimension of the image, mask or latent batch the node allocates.

    The product width × height × batch of a node's marked inputs is capped by `graph.issues.Limits.max_pixels`
    when the workflow is validated, so an oversized request is a 400, not an exhausted server.
    """

    axis: Literal["width", "height", "batch"]


@dataclass(frozen=True)
class Label:
    """The name an output shows (ComfyUI's output ``display_name``: "output", "high_sigmas"); default TYPE."""

    text: str


@dataclass(frozen=True)
class ImageUpload:
    """The combo lists input images and the editor shows an upload button and a preview (LoadImage)."""


@dataclass(frozen=True)
class OptionalInput:
    """The input may be left unconnected (ComfyUI's "optional" section); the parameter's default is used."""


@dataclass(frozen=True)
class ForceInput:
    """A scalar that is only ever fed by a link, never shown as a widget."""


@dataclass(frozen=True)
class Hidden:
    """Filled in by the executor, never by the workflow: PROMPT, EXTRA_PNGINFO or UNIQUE_ID."""

    kind: Literal["PROMPT", "EXTRA_PNGINFO", "UNIQUE_ID"]


Seed = Annotated[int, Range(0, SEED_MAX), SeedWidget()]
