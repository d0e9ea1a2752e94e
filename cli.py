"""The headless command line: run a workflow file without a server, or write a tiny demo checkpoint.

    python server.py run WORKFLOW.json [--set NODE.INPUT=VALUE ...] [--output DIR] [--base-directory DIR]
    python server.py run image.png            # the workflow stored in a PNG made here or by ComfyUI
    python server.py demo-model               # a tiny random-weight checkpoint in models/checkpoints/

Exit codes: 0 success, 1 a node failed, 2 the workflow (or a flag) was refused before running, 130 interrupted.
Output file paths go to stdout, one per line; progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import folders

if TYPE_CHECKING:  # the engine is imported when a command runs, so `--help` stays instant
    from graph.events import Event
    from graph.executor import InterruptFlag
    from graph.registry import NodeRegistry
    from graph.spec import InputSpec
    from graph.validate import ValidationIssue
    from graph.workflow import Workflow, WorkflowNode

EXIT_OK = 0
EXIT_NODE_ERROR = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130
DEMO_CHECKPOINT_NAME = "tiny_demo_sd1.safetensors"


class CliError(Exception):
    """A refusal before anything runs (bad file, bad --set, invalid workflow); exit code 2."""


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
    run.add_argument("--output", "--output-directory", dest="output", type=Path, help="where SaveImage writes")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    _folder_flags(run)
    run.set_defaults(command=run_command)
    demo = commands.add_parser("demo-model", help="write a tiny random-weight SD1 checkpoint (it draws noise)")
    demo.add_argument("--name", default=DEMO_CHECKPOINT_NAME, help="file name under models/checkpoints/")
    demo.add_argument("--force", action="store_true", help="overwrite an existing file")
    _folder_flags(demo)
    demo.set_defaults(command=demo_model_command, output=None)
    return parser


def _folder_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-directory", type=Path, help="base of models/, input/, output/ (default: the repo)")
    parser.add_argument("--input-directory", type=Path, help="where LoadImage reads")
    parser.add_argument(
        "--extra-model-paths-config", action="append", default=[], type=Path, help="more model folders (yaml)"
    )


def _configure_folders(args: argparse.Namespace) -> folders.Folders:
    try:
        return folders.configure(
            args.base_directory,
            input_directory=args.input_directory,
            output_directory=args.output,
            extra_model_paths_configs=args.extra_model_paths_config,
        )
    except folders.ExtraModelPathsError as error:
        raise CliError(str(error)) from error


# ---------------------------------------------------------------------------------------------------- run


def run_command(args: argparse.Namespace) -> int:
    """`run`: load, apply --set, validate, execute with progress, print the output files."""
    layout = _configure_folders(args)
    import nodes
    from graph.formats import WorkflowFormatError, load_workflow, to_native
    from graph.validate import validate

    registry = nodes.load_catalog(layout.custom_nodes_directories)
    layout.ensure_layout(folders.folder_uses(registry))
    for failure in registry.load_errors:
        print(f"warning: node module {failure.module} did not load: {failure.message}", file=sys.stderr)
    data = read_workflow_file(args.workflow)
    try:
        workflow = load_workflow(data, registry)
    except WorkflowFormatError as error:
        raise CliError(f"{args.workflow}: {error}") from error
    for override in args.overrides:
        apply_override(workflow, override, registry)
    issues = validate(workflow, registry)
    if issues:
        print(f"error: {args.workflow} is not valid:", file=sys.stderr)
        for message in describe_issues(issues, workflow, registry):
            print(f"  {message}", file=sys.stderr)
        return EXIT_REFUSED
    # The PNGs carry the workflow as run (after --set), in the native format the editor sends.
    outcome = execute(workflow, registry, {"workflow": to_native(workflow)}, progress=not args.no_progress)
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


def apply_override(workflow: Workflow, override: str, registry: NodeRegistry) -> None:
    """Apply one `NODE.INPUT=VALUE`; the value is read as the input's widget type, never guessed."""
    target, equals, text = override.partition("=")
    node_ref, dot, input_name = target.rpartition(".")
    if not equals or not dot or not node_ref or not input_name:
        raise CliError(f"--set {override!r}: expected NODE.INPUT=VALUE, e.g. 3.seed=42")
    node = _find_node(workflow, node_ref, override)
    spec = registry.get(node.class_type)
    if spec is None:
        raise CliError(f"--set {override!r}: node {node.node_id} has unknown type {node.class_type!r}")
    item = spec.input(input_name)
    widgets = [i.name for i in spec.inputs if not i.is_socket and i.section != "hidden"]
    if item is None or item.section == "hidden":
        raise CliError(
            f"--set {override!r}: node {node.node_id} ({node.class_type}) has no input {input_name!r}; "
            f"its widgets are: {', '.join(widgets) or 'none'}"
        )
    if item.is_socket:
        raise CliError(
            f"--set {override!r}: input {input_name!r} of node {node.node_id} ({node.class_type}) is a "
            f"{item.type_name} socket; --set only sets widget values"
        )
    node.inputs[input_name] = parse_widget_value(item, text, override)


def _find_node(workflow: Workflow, node_ref: str, override: str) -> WorkflowNode:
    if node_ref in workflow.nodes:
        return workflow.nodes[node_ref]
    titled = [node for node in workflow.nodes.values() if node.ui.get("title") == node_ref]
    if len(titled) == 1:
        return titled[0]
    if titled:
        ids = ", ".join(node.node_id for node in titled)
        raise CliError(f"--set {override!r}: several nodes are titled {node_ref!r} (ids {ids}); use the node id")
    ids = ", ".join(sorted(workflow.nodes, key=lambda node_id: (len(node_id), node_id)))
    raise CliError(f"--set {override!r}: no node with id or title {node_ref!r}; node ids: {ids}")


def parse_widget_value(item: InputSpec, text: str, override: str) -> Any:
    """`text` as a value of the widget `item` (INT, FLOAT, BOOLEAN, STRING or COMBO)."""
    widget = item.widget
    try:
        if widget == "INT":
            if not text.strip().lstrip("+-").isdigit():
                raise ValueError
            return int(text)
        if widget == "FLOAT":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        expected = "an integer" if widget == "INT" else "a finite number"
        raise CliError(f"--set {override!r}: {item.name} expects {expected}, got {text!r}") from None
    if widget == "BOOLEAN":
        if text.lower() not in ("true", "false"):
            raise CliError(f"--set {override!r}: {item.name} expects true or false, got {text!r}")
        return text.lower() == "true"
    if widget == "COMBO" and item.options and not all(isinstance(option, str) for option in item.options):
        for option in item.options:
            if str(option) == text:
                return option
    return text


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
    workflow: Workflow, registry: NodeRegistry, extra_pnginfo: dict[str, Any] | None, *, progress: bool = True
) -> Outcome:
    """Run a validated workflow with progress bars on stderr; Ctrl-C interrupts between steps."""
    from graph.cache import OutputCache
    from graph.executor import Executor, HiddenValues, InterruptFlag
    from graph.memory import GOVERNOR

    interrupt = InterruptFlag()
    display = ProgressDisplay(workflow, registry, enabled=progress)
    previous = _interrupt_on_sigint(interrupt)
    try:
        result = Executor(registry, cache=OutputCache(governor=GOVERNOR)).run(
            workflow,
            job_id="cli",
            emit=display.handle,
            interrupt=interrupt,
            hidden=HiddenValues(extra_pnginfo=extra_pnginfo),
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


class ProgressDisplay:
    """A tqdm bar over the nodes of the job and one over the steps of the running node (sampler steps)."""

    def __init__(
        self, workflow: Workflow, registry: NodeRegistry, *, enabled: bool, stream: TextIO | None = None
    ) -> None:
        from graph.modes import executable_view
        from graph.validate import ancestors_and_self

        self.enabled = enabled
        self.stream = stream or sys.stderr
        view = executable_view(workflow, registry)
        outputs = [node_id for node_id, node in view.nodes.items() if _is_output(registry, node.class_type)]
        self.planned = len(ancestors_and_self(view, outputs))
        self.class_types = {node_id: node.class_type for node_id, node in view.nodes.items()}
        self.nodes_bar: Any = None
        self.steps_bar: Any = None

    def handle(self, event: Event) -> None:
        """Update the bars for one executor event."""
        from graph.events import NodeDone, NodeFailed, NodesCached, NodeStarted, Progress

        if not self.enabled:
            return
        from tqdm import tqdm

        if isinstance(event, NodesCached):
            total = max(self.planned - len(event.node_ids), 0)
            # mininterval=0: every node and step is drawn (they are few, and each is slower than a redraw)
            self.nodes_bar = tqdm(
                total=total, desc="nodes", unit="node", file=self.stream, position=0, mininterval=0
            )
        elif isinstance(event, NodeStarted) and self.nodes_bar is not None:
            self.nodes_bar.set_postfix_str(f"{event.node_id} {self.class_types.get(event.node_id, '')}")
        elif isinstance(event, Progress):
            if self.steps_bar is None or self.steps_bar.total != event.total:
                self._close_steps()
                name = self.class_types.get(event.node_id, "")
                self.steps_bar = tqdm(
                    total=event.total, desc=f"  {event.node_id} {name}", unit="step", file=self.stream,
                    position=1, leave=False, mininterval=0,
                )
            self.steps_bar.update(event.value - self.steps_bar.n)
        elif isinstance(event, NodeDone | NodeFailed):
            self._close_steps()
            if self.nodes_bar is not None and isinstance(event, NodeDone):
                if self.nodes_bar.n >= self.nodes_bar.total:
                    self.nodes_bar.total = self.nodes_bar.n + 1
                self.nodes_bar.update(1)

    def _close_steps(self) -> None:
        if self.steps_bar is not None:
            self.steps_bar.close()
            self.steps_bar = None

    def close(self) -> None:
        """Close any open bars."""
        self._close_steps()
        if self.nodes_bar is not None:
            self.nodes_bar.close()
            self.nodes_bar = None


def _is_output(registry: NodeRegistry, class_type: str) -> bool:
    spec = registry.get(class_type)
    return bool(spec is not None and spec.output_node)


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
