"""`grid`: run a workflow over up to three axes of widget values and save the labelled grid image(s).

    python server.py grid WORKFLOW --x 3.sampler_name=euler,dpmpp_2m --y 3.cfg=4,7,10 [--z NODE.INPUT=...]

Without --x, the axes stored in the workflow's ``ui.loom_grid`` are used (as in workflows/compare_schedulers.json).
Axes are checked before anything runs (exit 2 naming the axis, node and input); a failed cell is drawn with its
error and the others go on (exit 1 when any failed). Grid PNG paths go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from commands import CliError


def add_grid_parser(commands: Any, add_engine_flags: Any, handler: Any) -> None:
    grid = commands.add_parser("grid", help="run a workflow over X/Y(/Z) axes of widget values; save a labelled grid")
    grid.add_argument("workflow", help="a workflow: native, ComfyUI API or UI JSON, or a PNG carrying one")
    for label in ("x", "y", "z"):
        grid.add_argument(f"--{label}", metavar="NODE.INPUT=V1,V2,...", default=None,
                          help=f"the {label.upper()} axis: a widget of a node (id or unique title) and its values")
    grid.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.INPUT=VALUE",
                      help="set a widget value for every cell (repeatable)")
    grid.add_argument("--prefix", default="grids/grid", help="output file prefix (under the output folder)")
    add_engine_flags(grid)
    grid.set_defaults(command=handler)


def grid_command(args: argparse.Namespace) -> int:
    """Load, apply --set, check the axes, validate the base workflow, run the cells, save the sheets."""
    from pathlib import Path

    import folders
    from cli import EXIT_NODE_ERROR, EXIT_OK, EXIT_REFUSED, describe_issues, read_workflow_file
    from commands.overrides import apply_override
    from compare.axes import AxisError, parse_axis_json, parse_axis_text
    from compare.grid import CellResult, run_grid
    from compare.sheet import save_sheets
    from graph.formats import WorkflowFormatError, load_workflow, to_native
    from graph.validate import analyse
    from runconfig import engine_config, prepare

    try:
        _layout, registry = prepare(engine_config(args))
    except folders.ExtraModelPathsError as error:
        raise CliError(str(error)) from error
    path = Path(args.workflow)
    try:
        workflow = load_workflow(read_workflow_file(path), registry)
    except WorkflowFormatError as error:
        raise CliError(f"{path}: {error}") from error
    for override in args.overrides:
        apply_override(workflow, override, registry)
    texts = [(label, getattr(args, label)) for label in ("x", "y", "z") if getattr(args, label)]
    stored = workflow.ui.get("loom_grid")  # a workflow may carry its own axes (workflows/compare_schedulers.json)
    try:
        if not texts and isinstance(stored, dict):
            labels = [label for label in ("x", "y", "z") if label in stored]
            axes = [parse_axis_json(label, stored[label], workflow, registry) for label in labels]
        else:
            axes = [parse_axis_text(label, text, workflow, registry) for label, text in texts]
    except AxisError as error:
        raise CliError(str(error)) from error
    if [axis.label for axis in axes] not in (["x"], ["x", "y"], ["x", "y", "z"]):
        raise CliError("give --x, then optionally --y, then optionally --z (or a workflow whose ui.loom_grid has them)")
    issues = analyse(workflow, registry).issues
    if issues:
        print(f"error: {path} is not valid:", file=sys.stderr)
        for message in describe_issues(issues, workflow, registry):
            print(f"  {message}", file=sys.stderr)
        return EXIT_REFUSED

    def report(done: int, total: int, result: CellResult) -> None:
        values = ", ".join(f"{axis.title}={value!r}" for axis, value in zip(axes, result.cell.values, strict=True))
        state = "ok" if result.error is None else f"FAILED: {result.error}"
        print(f"cell {done}/{total} [{values}] {state} ({result.seconds:.1f}s)", file=sys.stderr)

    native = to_native(workflow)
    run = run_grid(workflow, registry, axes, extra_pnginfo={"workflow": native}, on_cell=report)
    for sheet in save_sheets(run, native, args.prefix):
        print(sheet)
    failed = sum(result.error is not None for result in run.results)
    if failed:
        print(f"{failed} of {len(run.results)} cells failed", file=sys.stderr)
    return EXIT_NODE_ERROR if failed else EXIT_OK
