"""The headless command line: run a workflow file without a server, or write a tiny demo checkpoint.

    python server.py run WORKFLOW.json [--set NODE.INPUT=VALUE ...] [--output DIR] [--base-directory DIR]
    python server.py run image.png            # the workflow stored in a PNG made here or by ComfyUI
    python server.py demo-model               # a tiny random-weight checkpoint in models/checkpoints/
    python server.py grid WORKFLOW --x 3.sampler_name=euler,dpmpp_2m --y 3.cfg=4,7,10   # commands/grid.py

Exit codes: 0 success, 1 a node failed, 2 the workflow (or a flag) was refused before running, 130 interrupted.
Output file paths go to stdout, one per line; progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import folders
from commands import CliError
from runconfig import add_engine_flags, configure_folders, engine_config, prepare

if TYPE_CHECKING:  # the engine is imported when a command runs, so `--help` stays instant
    from graph.executor import InterruptFlag
    from graph.registry import NodeRegistry
    from graph.validate import Analysis, ValidationIssue
    from graph.workflow import Workflow

EXIT_OK = 0
EXIT_NODE_ERROR = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130
DEMO_CHECKPOINT_NAME = "tiny_demo_sd1.safetensors"


def main(argv: Sequence[str] | None = None) -> int:
    """Run a CLI subcommand (`run` or `demo-model`, as dispatched by server.py); returns the exit code."""
    parser = _parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REFUSED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="server.py", description="Latent Loom headless commands")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run a workflow file (JSON or PNG) and print the files it wrote")
    run.add_argument("workflow", type=Path, help="a workflow: native, ComfyUI API or UI JSON, or a PNG carrying one")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NODE.INPUT=VALUE",
        help="set a widget value before running; NODE is a node id or a unique node title (repeatable)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_engine_flags(run)  # the server's own device, precision, folder and plugin flags (runconfig.py)
    run.set_defaults(command=run_command)
    demo = commands.add_parser("demo-model", help="write a tiny random-weight SD1 checkpoint (it draws noise)")
    demo.add_argument("--name", default=DEMO_CHECKPOINT_NAME, help="file name under models/checkpoints/")
    demo.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_engine_flags(demo)
    demo.set_defaults(command=demo_model_command)
    from commands.grid import add_grid_parser, grid_command

    add_grid_parser(commands, add_engine_flags, grid_command)
    return parser


def _configure_folders(args: argparse.Namespace) -> folders.Folders:
    try:
        return configure_folders(engine_config(args))
    except folders.ExtraModelPathsError as error:
        raise CliError(str(error)) from error


# ---------------------------------------------------------------------------------------------------- run


def run_command(args: argparse.Namespace) -> int:
    """`run`: load, apply --set, validate, execute with progress, print the output files."""
    from commands.overrides import apply_override
    from graph.formats import WorkflowFormatError, load_workflow, to_native
    from graph.validate import analyse

    try:
        # Device, precision, folders and plugins exactly as the server applies them.
        _layout, registry = prepare(engine_config(args))
    except folders.ExtraModelPathsError as error:
        raise CliError(str(error)) from error
    for failure in registry.load_errors:
        print(f"warning: node module {failure.module} did not load: {failure.message}", file=sys.stderr)
    data = read_workflow_file(args.workflow)
    try:
        workflow = load_workflow(data, registry)
    except WorkflowFormatError as error:
        raise CliError(f"{args.workflow}: {error}") from error
    for override in args.overrides:
        apply_override(workflow, override, registry)
    analysis = analyse(workflow, registry)  # validated once: the run reuses it
    issues = analysis.issues
    if issues:
        print(f"error: {args.workflow} is not valid:", file=sys.stderr)
        for message in describe_issues(issues, workflow, registry):
            print(f"  {message}", file=sys.stderr)
        return EXIT_REFUSED
    # The PNGs carry the workflow as run (after --set), in the native format the editor sends.
    outcome = execute(
        workflow, registry, {"workflow": to_native(workflow)}, progress=not args.no_progress, analysis=analysis
    )
    for path in outcome.files:
        print(path)
    return outcome.exit_code


def read_workflow_file(path: Path) -> Any:
    """Parsed workflow data from a JSON file or from a PNG's `prompt`/`workflow` chunk."""
    from graph.formats import WorkflowFormatError, parse_json
    from imaging.png_metadata import PNG_SIGNATURE, PngMetadataError, workflow_from_png

    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from error
    if raw.startswith(PNG_SIGNATURE):
        try:
            # `prompt` is exactly the graph that ran; `workflow` (editor layout) is the fallback.
            return workflow_from_png(raw, prefer="prompt")
        except PngMetadataError as error:
            raise CliError(f"{path}: {error}") from error
    try:
        return parse_json(raw)
    except WorkflowFormatError as error:
        raise CliError(f"{path}: {error}") from error


def describe_issues(issues: Sequence[ValidationIssue], workflow: Workflow, registry: NodeRegistry) -> list[str]:
    """The validator's messages, plus where to put a model when a loader's list is empty (first run)."""
    messages = []
    for issue in issues:
        message = str(issue.message)
        hint = _empty_folder_hint(issue, workflow, registry)
        messages.append(f"{message}\n    {hint}" if hint and hint not in message else message)
    return messages


def _empty_folder_hint(issue: ValidationIssue, workflow: Workflow, registry: NodeRegistry) -> str | None:
    node = workflow.nodes.get(issue.node_id) if issue.node_id else None
    spec = registry.get(node.class_type) if node is not None else None
    item = spec.input(issue.input_name) if spec is not None and issue.input_name else None
    if item is None or item.choices is None:
        return None
    try:
        if item.combo_options():
            return None
    except Exception:  # the validator already reported a failing provider
        return None
    return folders.hint_for_empty_choices(item.choices.source)


# ---------------------------------------------------------------------------------------------------- execution


@dataclass
class Outcome:
    """How a run ended: the exit code and the files the output nodes reported."""

    exit_code: int
    files: list[Path] = field(default_factory=list)


def execute(
    workflow: Workflow,
    registry: NodeRegistry,
    extra_pnginfo: dict[str, Any] | None,
    *,
    progress: bool = True,
    analysis: Analysis | None = None,
) -> Outcome:
    """Run a validated workflow with progress bars on stderr; Ctrl-C interrupts between steps."""
    from graph.cache import OutputCache
    from graph.executor import Executor, HiddenValues, InterruptFlag
    from graph.memory import GOVERNOR

    interrupt = InterruptFlag()
    from commands.progress import ProgressDisplay

    display = ProgressDisplay(workflow, registry, enabled=progress)
    previous = _interrupt_on_sigint(interrupt)
    try:
        result = Executor(registry, cache=OutputCache(governor=GOVERNOR)).run(
            workflow,
            job_id="cli",
            emit=display.handle,
            interrupt=interrupt,
            hidden=HiddenValues(extra_pnginfo=extra_pnginfo),
            analysis=analysis,
        )
    finally:
        display.close()
        signal.signal(signal.SIGINT, previous)
    files = output_files(result.outputs)
    if result.status == "succeeded":
        return Outcome(EXIT_OK, files)
    if result.status == "interrupted":
        print(f"interrupted at node {result.interrupted_at}", file=sys.stderr)
        return Outcome(EXIT_INTERRUPTED, files)
    if result.issues:
        print("error: the workflow was refused:", file=sys.stderr)
        for message in describe_issues(result.issues, workflow, registry):
            print(f"  {message}", file=sys.stderr)
        return Outcome(EXIT_REFUSED, files)
    error = result.error
    if error is not None:
        print(f"error: node {error.node_id} ({error.class_type}) failed: {error.exception_type}: {error.message}",
              file=sys.stderr)
        for name, value in error.inputs.items():
            print(f"    {name} = {value}", file=sys.stderr)
    return Outcome(EXIT_NODE_ERROR, files)


def _interrupt_on_sigint(interrupt: InterruptFlag) -> Any:
    """First Ctrl-C asks the job to stop cleanly; a second one aborts at once."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if interrupt.is_set():
            raise KeyboardInterrupt
        print("\ninterrupting (Ctrl-C again to abort)…", file=sys.stderr)
        interrupt.set()

    try:
        return signal.signal(signal.SIGINT, handle)
    except ValueError:  # not the main thread (tests, embedding): leave signals alone
        return signal.getsignal(signal.SIGINT)


def output_files(outputs: dict[str, dict[str, Any]]) -> list[Path]:
    """Paths of the files listed in output nodes' ui records ({"images": [{filename, subfolder, type}], ...})."""
    files: list[Path] = []
    for ui in outputs.values():
        for entries in ui.values():
            if not isinstance(entries, list):
                continue
            for entry in entries:
                if isinstance(entry, dict) and {"filename", "type"} <= entry.keys():
                    try:
                        files.append(
                            folders.resolve_path(
                                str(entry["type"]), str(entry["filename"]), subfolder=str(entry.get("subfolder", ""))
                            )
                        )
                    except folders.FolderError as error:
                        print(f"warning: output {entry!r} is not a file: {error}", file=sys.stderr)
    return files


# ---------------------------------------------------------------------------------------------------- demo model


def demo_model_command(args: argparse.Namespace) -> int:
    """`demo-model`: write a tiny random-weight SD1 checkpoint so the pipeline can be tried offline."""
    layout = _configure_folders(args)
    try:
        target = layout.resolve_path("checkpoints", args.name, must_exist=False)
    except folders.FolderError as error:
        raise CliError(str(error)) from error
    if not target.name.endswith(".safetensors"):
        raise CliError(f"--name {args.name!r}: the demo checkpoint is a .safetensors file")
    if target.exists() and not args.force:
        print(f"{target} already exists (use --force to rewrite it)", file=sys.stderr)
        print(target)
        return EXIT_OK
    write_demo_checkpoint(target)
    print(
        "wrote a tiny random-weight SD1 checkpoint: it runs every node in seconds but draws noise, not pictures.\n"
        f"Pick {args.name!r} in Load Checkpoint.",
        file=sys.stderr,
    )
    print(target)
    return EXIT_OK


def write_demo_checkpoint(path: Path) -> Path:
    """Write the tiny SD1 checkpoint the model stack's test fixtures build (random weights: it draws noise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    from diffusion.models.tiny import write_tiny_sd1_checkpoint  # torch is imported only for this command

    return write_tiny_sd1_checkpoint(path)


if __name__ == "__main__":
    sys.exit(main())
