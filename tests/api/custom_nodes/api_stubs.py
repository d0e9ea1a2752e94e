"""Stub nodes for the API tests: cheap, torch-free, with progress, previews, failure and file output."""

from __future__ import annotations

import time
from typing import Annotated

from PIL import Image

import folders
from graph.runtime import check_interrupt, report_progress
from graph.sockets import Socket
from graph.spec import Effects, NoOutputs, Outputs, node
from graph.widgets import Range, Text


class Number(Outputs):
    value: Annotated[int, Socket("INT")]


@node("StubNumber", category="stub", version=1)
def stub_number(value: Annotated[int, Range(-1000, 1_000_000)] = 1) -> Number:
    """A constant."""
    return Number(value)


@node("StubSteps", category="stub", version=1, effects=Effects.NONDETERMINISTIC)
def stub_steps(
    value: Annotated[int, Socket("INT")],
    steps: Annotated[int, Range(1, 100_000)] = 5,
    delay_ms: Annotated[int, Range(0, 60_000)] = 0,
    preview_size: Annotated[int, Range(0, 2048)] = 0,
) -> Number:
    """Counts `steps` steps, sleeping `delay_ms` and sending a noise preview of `preview_size` pixels each step."""
    preview = Image.effect_noise((preview_size, preview_size), 64).convert("RGB") if preview_size else None
    for step in range(steps):
        check_interrupt()
        if delay_ms:
            time.sleep(delay_ms / 1000)
        report_progress(step + 1, steps, preview)
    return Number(value + steps)


@node("StubFail", category="stub", version=1, effects=Effects.NONDETERMINISTIC)
def stub_fail(value: Annotated[int, Socket("INT")], message: Annotated[str, Text()] = "boom") -> Number:
    """Always raises."""
    raise ValueError(message)


@node("StubSave", category="stub", version=1, effects=Effects.WRITES_FILES)
def stub_save(
    value: Annotated[int, Socket("INT")], filename_prefix: Annotated[str, Text()] = "stub"
) -> NoOutputs:
    """Writes a small PNG whose gray level is `value` into output/ and shows it."""
    target = folders.save_target(filename_prefix, 8, 8)
    target.folder.mkdir(parents=True, exist_ok=True)
    name = target.file_name(0, "png")
    Image.new("RGB", (8, 8), (value % 256,) * 3).save(target.folder / name)
    return NoOutputs(ui={"images": [{"filename": name, "subfolder": target.subfolder, "type": "output"}]})


@node("StubWrongOutput", category="stub", version=1, effects=Effects.NONDETERMINISTIC)
def stub_wrong_output(value: Annotated[int, Socket("INT")]) -> Number:
    """Breaks its contract: returns a plain int instead of its output record."""
    return value  # type: ignore[return-value]
