"""Run one workflow over up to three axes: cells expanded into jobs, ordered to minimise model switches, run on
one executor and one output cache, so shared work (model loads, text encodes, unchanged latents) runs once.

A failed cell keeps its error for the grid image and the remaining cells go on.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

import folders
from compare.axes import Axis
from graph.cache import OutputCache
from graph.events import Event
from graph.executor import Executor, HiddenValues, InterruptFlag
from graph.registry import NodeRegistry
from graph.workflow import Workflow


@dataclass(frozen=True)
class Cell:
    """One grid position: an index per axis (x, y, z order) and the widget values it sets."""

    index: tuple[int, ...]
    values: tuple[Any, ...]


@dataclass
class CellResult:
    cell: Cell
    status: str
    image: Image.Image | None = None
    error: str | None = None
    seconds: float = 0.0
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)


@dataclass
class GridRun:
    axes: tuple[Axis, ...]
    results: list[CellResult]
    #: Class types of every node executed (not served from the cache), over all cells, in run order.
    executed_types: list[str] = field(default_factory=list)


def expand(axes: Sequence[Axis]) -> list[Cell]:
    """Every combination, in reading order (z, then y, then x varying fastest)."""
    ranges = [range(len(axis.values)) for axis in axes]
    cells = []
    for reversed_index in itertools.product(*reversed(ranges)):
        index = tuple(reversed(reversed_index))
        cells.append(Cell(index, tuple(axis.values[i] for axis, i in zip(axes, index, strict=True))))
    return cells


def model_axes(axes: Sequence[Axis], registry: NodeRegistry) -> list[int]:
    """Positions of the axes that change a loader's widget (a checkpoint, LoRA, VAE ...): switching is costly."""
    positions = []
    for position, axis in enumerate(axes):
        spec = registry.get(axis.class_type)
        if spec is not None and spec.category.startswith("loaders"):
            positions.append(position)
    return positions


def order_cells(cells: list[Cell], axes: Sequence[Axis], registry: NodeRegistry) -> list[Cell]:
    """Cells grouped by the loader axes' values (each model loaded once), then in reading order."""
    heavy = model_axes(axes, registry)
    return sorted(cells, key=lambda cell: tuple(cell.index[p] for p in heavy))  # stable: reading order kept


def cell_workflow(workflow: Workflow, axes: Sequence[Axis], cell: Cell) -> Workflow:
    """The exact single workflow of one cell."""
    copy = workflow.copy()
    for axis, value in zip(axes, cell.values, strict=True):
        copy.nodes[axis.node_id].inputs[axis.input_name] = value
    return copy


def first_image(outputs: dict[str, dict[str, Any]]) -> Image.Image | None:
    """The first image an output node of the cell wrote (SaveImage or PreviewImage)."""
    for node_id in sorted(outputs, key=lambda node_id: (len(node_id), node_id)):
        for entry in outputs[node_id].get("images", []):
            if isinstance(entry, dict) and {"filename", "type"} <= entry.keys():
                path = folders.resolve_path(str(entry["type"]), str(entry["filename"]),
                                            subfolder=str(entry.get("subfolder", "")))
                with Image.open(path) as image:
                    return image.convert("RGB")
    return None


def run_grid(
    workflow: Workflow,
    registry: NodeRegistry,
    axes: Sequence[Axis],
    *,
    extra_pnginfo: dict[str, Any] | None = None,
    on_cell: Callable[[int, int, CellResult], None] | None = None,
    interrupt: InterruptFlag | None = None,
    cache: OutputCache | None = None,
) -> GridRun:
    """Run every cell on one executor and cache; ``on_cell(done, total, result)`` after each."""
    from graph.memory import GOVERNOR

    executor = Executor(registry, cache=cache if cache is not None else OutputCache(governor=GOVERNOR))
    flag = interrupt or InterruptFlag()
    cells = order_cells(expand(axes), axes, registry)
    run = GridRun(tuple(axes), [])

    def ignore(event: Event) -> None:
        return None

    for done, cell in enumerate(cells, start=1):
        single = cell_workflow(workflow, axes, cell)
        started = time.perf_counter()
        result = executor.run(single, job_id=f"grid-{'-'.join(map(str, cell.index))}", emit=ignore,
                              interrupt=flag, hidden=HiddenValues(extra_pnginfo=extra_pnginfo))
        outcome = CellResult(cell, result.status, seconds=time.perf_counter() - started,
                             executed=list(result.executed), cached=list(result.cached))
        run.executed_types += [single.nodes[node_id].class_type for node_id in result.executed]
        if result.status == "succeeded":
            outcome.image = first_image(result.outputs)
            if outcome.image is None:
                outcome.status, outcome.error = "failed", "the workflow has no image output"
        elif result.error is not None:
            outcome.error = f"node {result.error.node_id} ({result.error.class_type}): {result.error.message}"
        elif result.issues:
            outcome.error = str(result.issues[0].message)
        else:
            outcome.error = result.status
        run.results.append(outcome)
        if on_cell is not None:
            on_cell(done, len(cells), outcome)
        if result.status == "interrupted":
            break
    return run

