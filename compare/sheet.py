"""The labelled grid image: axis titles and values drawn with Pillow, one sheet per Z value, saved as PNG with
the workflow and the axes in its metadata (``workflow`` as ComfyUI reads it, ``loom_grid`` for the axes)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

import folders
from compare.axes import Axis
from compare.grid import CellResult, GridRun

PAD = 6
LINE = 14
FAILED_FILL = (60, 24, 24)


def _label(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _cell_size(results: Sequence[CellResult]) -> tuple[int, int]:
    for result in results:
        if result.image is not None:
            return result.image.size
    return (128, 128)


def draw_sheet(run: GridRun, z_index: int | None = None) -> Image.Image:
    """The grid of one Z value (or the only one): X across, Y down, titles on top and left."""
    font = ImageFont.load_default()
    x_axis = run.axes[0]
    y_axis = run.axes[1] if len(run.axes) > 1 else None
    results = [r for r in run.results if z_index is None or r.cell.index[2] == z_index]
    width, height = _cell_size(results)
    columns = len(x_axis.values)
    rows = len(y_axis.values) if y_axis is not None else 1
    left = 0 if y_axis is None else max(len(_label(v)) for v in y_axis.values) * 7 + 2 * PAD
    title_lines = 2 if y_axis is not None else 1
    top = (title_lines + 1) * LINE + 2 * PAD + (LINE if z_index is not None else 0)
    sheet = Image.new("RGB", (left + columns * (width + PAD) + PAD, top + rows * (height + PAD) + PAD), "white")
    draw = ImageDraw.Draw(sheet)
    lines = [f"X: {x_axis.title} ({x_axis.class_type})"]
    if y_axis is not None:
        lines.append(f"Y: {y_axis.title} ({y_axis.class_type})")
    if z_index is not None:
        z_axis = run.axes[2]
        lines.append(f"Z: {z_axis.title} = {_label(z_axis.values[z_index])}")
    for number, line in enumerate(lines):
        draw.text((PAD, PAD + number * LINE), line, fill="black", font=font)
    for column, value in enumerate(x_axis.values):
        draw.text((left + PAD + column * (width + PAD), top - LINE - PAD // 2), _label(value), fill="black", font=font)
    if y_axis is not None:
        for row, value in enumerate(y_axis.values):
            draw.text((PAD, top + PAD + row * (height + PAD) + height // 2 - LINE // 2), _label(value),
                      fill="black", font=font)
    for result in results:
        column = result.cell.index[0]
        row = result.cell.index[1] if y_axis is not None else 0
        x, y = left + PAD + column * (width + PAD), top + PAD + row * (height + PAD)
        if result.image is not None:
            image = result.image if result.image.size == (width, height) else result.image.resize((width, height))
            sheet.paste(image, (x, y))
        else:
            draw.rectangle((x, y, x + width - 1, y + height - 1), fill=FAILED_FILL)
            wrapped = textwrap.wrap(f"failed: {result.error or result.status}", max(8, width // 6))
            for number, line in enumerate(wrapped[: max(1, height // LINE)]):
                draw.text((x + 3, y + 3 + number * LINE), line, fill=(255, 220, 220), font=font)
    return sheet


def grid_metadata(run: GridRun, workflow_native: dict[str, Any] | None) -> dict[str, Any]:
    """What the PNG carries: the axes (with each cell's status, error and seconds) and the base workflow."""
    return {
        "axes": [axis.to_json() for axis in run.axes],
        "cells": [{"index": list(r.cell.index), "status": r.status, "error": r.error, "seconds": round(r.seconds, 3)}
                  for r in run.results],
        "workflow": workflow_native,
    }


def save_sheets(run: GridRun, workflow_native: dict[str, Any] | None, prefix: str = "grids/grid") -> list[Path]:
    """Write one PNG per Z value (one in all without a Z axis) to the output folder; returns the paths."""
    z_values: list[int | None] = [None] if len(run.axes) < 3 else list(range(len(run.axes[2].values)))
    meta = grid_metadata(run, workflow_native)
    paths = []
    target = folders.save_target(prefix)
    for offset, z_index in enumerate(z_values):
        info = PngInfo()
        info.add_text("loom_grid", json.dumps({**meta, "z_index": z_index}))
        if workflow_native is not None:
            info.add_text("workflow", json.dumps(workflow_native))
        path = target.folder / target.file_name(target.counter + offset, "png")
        target.folder.mkdir(parents=True, exist_ok=True)
        draw_sheet(run, z_index).save(path, pnginfo=info)
        paths.append(path)
    return paths


def axes_from_png(path: Path) -> list[Axis]:
    """The axes a grid PNG carries (for tools that reopen a grid)."""
    with Image.open(path) as image:
        meta = json.loads(image.text["loom_grid"])  # type: ignore[attr-defined]
    return [Axis(a["label"], a["node"], a["class_type"], a["input"], tuple(a["values"])) for a in meta["axes"]]
