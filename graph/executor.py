"""Running a workflow: validate, plan (ancestors of the outputs, topological order), serve from cache, execute.

    executor = Executor(registry, cache=OutputCache(governor=GOVERNOR))  # GOVERNOR: graph.memory
    result = executor.run(workflow, job_id="42", emit=queue.put, interrupt=InterruptFlag())

Only ancestors of output nodes (or of `targets`) run; a node whose key is cached is not run, and neither are
its ancestors unless another node needs them. Output nodes always run.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from graph import runtime
from graph.cache import CachedOutput, OutputCache, cache_policy, node_key
from graph.events import (
    Event,
    JobInterrupted,
    JobStarted,
    JobSucceeded,
    NodeDone,
    NodeFailed,
    NodesCached,
    NodeStarted,
    Progress,
)
from graph.registry import NodeRegistry
from graph.sockets import SocketTypes
from graph.spec import NodeSpec, Outputs
from graph.validate import Analysis, Limits, ValidationIssue, analyse, ancestors_and_self, check_value
from graph.workflow import Link, Workflow, WorkflowNode, short_repr

log = logging.getLogger(__name__)

JobStatus = Literal["succeeded", "failed", "interrupted"]


class InvalidLinkedValue(ValueError):
    """A widget input fed by a link received a value its limits refuse (found when the node is about to run)."""


class InterruptFlag:
    """Asks a running job to stop; checked between nodes and by `graph.runtime.check_interrupt` inside nodes."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Ask the job to stop."""
        self._event.set()

    def clear(self) -> None:
        """Withdraw the request (before reusing the flag for another job)."""
        self._event.clear()

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._event.is_set()


@dataclass(frozen=True)
class HiddenValues:
    """Values for hidden inputs. `prompt` defaults to the job's workflow in API format."""

    prompt: dict[str, Any] | None = None
    extra_pnginfo: dict[str, Any] | None = None


@dataclass
class JobResult:
    """The outcome of `Executor.run`."""

    job_id: str
    status: JobStatus
    #: UI output per output node id (`{"images": [...]}`), for the history.
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Why it failed: the same record the NodeFailed event carried (node, type, exception, inputs).
    error: NodeFailed | None = None
    #: Validation issues when the workflow was refused at run time.
    issues: list[ValidationIssue] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    #: Nodes that are not ancestors of any output (or target): never run.
    skipped: list[str] = field(default_factory=list)
    interrupted_at: str | None = None


@dataclass
class _Plan:
    run_order: list[str]
    #: Cache hits whose values feed nodes that run.
    hits: dict[str, CachedOutput]
    #: Every planned node that does not run (hits and their ancestors), in topological order.
    cached: list[str]
    keys: dict[str, str]
    consumers: dict[str, int]
    skipped: list[str]


class Executor:
    """Runs workflows one job at a time against a registry, sharing an `OutputCache` across jobs."""

    def __init__(self, registry: NodeRegistry, cache: OutputCache | None = None, *, limits: Limits | None = None):
        self.registry = registry
        self.cache = cache if cache is not None else OutputCache()
        self.limits = limits if limits is not None else Limits()
        # One job at a time: node code (models on a GPU) is not written to run concurrently.
        self._running = threading.Lock()

    def run(
        self,
        workflow: Workflow,
        *,
        job_id: str,
        emit: Callable[[Event], None],
        interrupt: InterruptFlag,
        hidden: HiddenValues | None = None,
        targets: list[str] | None = None,
        analysis: Analysis | None = None,
    ) -> JobResult:
        """Validate, plan and execute `workflow`, emitting events; never raises for node or emit failures.

        `analysis`: the validation this workflow already passed (`graph.validate.analyse` with the same registry,
        limits and targets, when it was submitted), so it is not validated twice.
        The interrupt flag is not cleared here: a flag set before the job starts stops it before its first node.
        Nodes receive cached objects as inputs and must not mutate them.
        """
        with self._running:
            return self._run(workflow, job_id, emit, interrupt, hidden, targets, analysis)

    def _run(
        self,
        workflow: Workflow,
        job_id: str,
        emit: Callable[[Event], None],
        interrupt: InterruptFlag,
        hidden: HiddenValues | None,
        targets: list[str] | None,
        analysis: Analysis | None,
    ) -> JobResult:
        send = _safe_emit(emit)
        send(JobStarted(job_id))
        if analysis is None:
            analysis = analyse(workflow, self.registry, limits=self.limits, targets=targets)
        issues = analysis.issues
        if issues:
            first = issues[0]
            message = "\n".join(issue.message for issue in issues)
            error = NodeFailed(job_id, first.node_id or "", first.class_type or "", message, "ValidationError")
            send(error)
            return JobResult(job_id, "failed", issues=issues, error=error)
        plan = self._plan(analysis.view, analysis.order, targets)
        send(NodesCached(job_id, tuple(plan.cached)))
        job = _Job(self, workflow, analysis.view, plan, job_id, send, interrupt, hidden or HiddenValues())
        return job.execute()

    def _plan(self, view: Workflow, order: list[str], targets: Sequence[str] | None) -> _Plan:
        registry = self.registry
        nodes = view.nodes
        if targets is None:
            roots = [node_id for node_id, node in nodes.items() if _spec(registry, node).output_node]
            members = set(ancestors_and_self(view, roots))
            order = [node_id for node_id in order if node_id in members]
        else:
            roots = list(targets)
            members = set(order)  # validation already limited the order to the targets and their ancestors
        keys: dict[str, str] = {}
        for node_id in order:
            node = nodes[node_id]
            keys[node_id] = node_key(_spec(registry, node), node, keys)
        needed: set[str] = set()
        hits: dict[str, CachedOutput] = {}
        stack = list(roots)
        while stack:
            node_id = stack.pop()
            if node_id in needed or node_id in hits:
                continue
            node = nodes[node_id]
            if not cache_policy(_spec(registry, node)).always_runs:
                hit = self.cache.get(keys[node_id])
                if hit is not None:
                    hits[node_id] = hit
                    continue
            needed.add(node_id)
            stack.extend(value.node_id for value in node.inputs.values() if type(value) is Link)
        run_order = [node_id for node_id in order if node_id in needed]
        consumers: dict[str, int] = {}
        for node_id in run_order:
            for value in nodes[node_id].inputs.values():
                if type(value) is Link:
                    consumers[value.node_id] = consumers.get(value.node_id, 0) + 1
        skipped = [node_id for node_id in nodes if node_id not in members]
        # Ancestors of a cache hit need not run either: they count as cached, as in ComfyUI's execution_cached.
        not_run = [node_id for node_id in order if node_id not in needed]
        return _Plan(run_order, hits, not_run, keys, consumers, skipped)


def _spec(registry: NodeRegistry, node: WorkflowNode) -> NodeSpec:
    spec = registry.get(node.class_type)
    if spec is None:  # validation ran first; this is a registry changed in between
        raise KeyError(f"node {node.node_id}: unknown node type {node.class_type!r}")
    return spec


def _safe_emit(emit: Callable[[Event], None]) -> Callable[[Event], None]:
    def send(event: Event) -> None:
        try:
            emit(event)
        except Exception:  # a broken listener must not break the job
            log.exception("event listener failed on %s", type(event).__name__)

    return send


class _NodeRuntime:
    """What `graph.runtime` talks to while one node runs."""

    def __init__(self, job: _Job, node_id: str) -> None:
        self.job = job
        self.node_id = node_id

    def progress(self, value: int, total: int, preview: Any | None = None) -> None:
        """Emit a Progress event, then honour a pending interrupt."""
        self.job.send(Progress(self.job.job_id, self.node_id, value, total, preview))
        self.check_interrupt()

    def check_interrupt(self) -> None:
        """Raise `runtime.Interrupted` when the job was asked to stop."""
        if self.job.interrupt.is_set():
            raise runtime.Interrupted(f"job {self.job.job_id} interrupted at node {self.node_id}")


class _Job:
    """One run of a plan: executes nodes in order and keeps their outputs until the last consumer has run."""

    def __init__(
        self,
        executor: Executor,
        original: Workflow,
        view: Workflow,
        plan: _Plan,
        job_id: str,
        send: Callable[[Event], None],
        interrupt: InterruptFlag,
        hidden: HiddenValues,
    ) -> None:
        self.executor = executor
        self.original = original
        self.view = view
        self.plan = plan
        self.job_id = job_id
        self.send = send
        self.interrupt = interrupt
        self.hidden = hidden
        self.values: dict[str, tuple[Any, ...]] = {node_id: hit.values for node_id, hit in plan.hits.items()}
        self.remaining = dict(plan.consumers)
        self._prompt: dict[str, Any] | None = hidden.prompt

    def execute(self) -> JobResult:
        """Run the planned nodes in order; stop at the first failure or interrupt."""
        result = JobResult(self.job_id, "succeeded", cached=list(self.plan.cached), skipped=self.plan.skipped)
        registry = self.executor.registry
        for node_id in self.plan.run_order:
            node = self.view.nodes[node_id]
            if self.interrupt.is_set():
                return self._interrupted(result, node_id)
            spec = _spec(registry, node)
            self.send(NodeStarted(self.job_id, node_id))
            kwargs: dict[str, Any] = {}
            token = runtime.install(_NodeRuntime(self, node_id))
            started = time.perf_counter()
            try:
                kwargs = self._arguments(spec, node)
                values, ui = _unpack(spec, spec.function(**kwargs), registry.socket_types)
            except runtime.Interrupted:
                return self._interrupted(result, node_id)
            except Exception as error:
                return self._failed(result, node, error, kwargs)
            finally:
                runtime.uninstall(token)
            result.executed.append(node_id)
            if not cache_policy(spec).always_runs:
                cost = time.perf_counter() - started  # what a cache hit saves: the governor keeps costly outputs
                self.executor.cache.put(self.plan.keys[node_id], values, ui, cost_seconds=cost)
            if self.remaining.get(node_id):
                self.values[node_id] = values
            self._release_inputs(node)
            if spec.output_node and ui is not None:
                result.outputs[node_id] = ui
            self.send(NodeDone(self.job_id, node_id, ui))
        self.send(JobSucceeded(self.job_id))
        return result

    def _arguments(self, spec: NodeSpec, node: WorkflowNode) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        by_name = spec.inputs_by_name
        for name, value in node.inputs.items():
            item = by_name.get(name)
            if item is None:
                continue  # LoadImage's "upload" button value
            if type(value) is Link:
                kwargs[name] = linked = self.values[value.node_id][value.output]
                if not item.is_socket:  # a widget fed by a link: its value is checked now, as strictly
                    problems = check_value(spec, name, linked, limits=self.executor.limits, node_id=node.node_id)
                    if problems:
                        raise InvalidLinkedValue(problems[0].message)
            elif item.widget == "FLOAT" and type(value) is int:
                kwargs[name] = float(value)  # JSON writes 8.0 as 8; exact, validated as a FLOAT
            else:
                kwargs[name] = value
        for item in spec.inputs:
            if item.name in kwargs:
                continue
            if item.hidden is not None:
                kwargs[item.name] = self._hidden(item.hidden.kind, node.node_id)
            elif not item.has_default:
                kwargs[item.name] = None  # an optional input left unconnected
        return kwargs

    def _hidden(self, kind: str, node_id: str) -> Any:
        if kind == "UNIQUE_ID":
            return node_id
        if kind == "EXTRA_PNGINFO":
            return self.hidden.extra_pnginfo
        if self._prompt is None:
            from graph.formats import to_api_prompt

            self._prompt = to_api_prompt(self.original, self.executor.registry)
        return self._prompt

    def _release_inputs(self, node: WorkflowNode) -> None:
        for value in node.inputs.values():
            if isinstance(value, Link) and value.node_id in self.remaining:
                self.remaining[value.node_id] -= 1
                if self.remaining[value.node_id] == 0:
                    self.values.pop(value.node_id, None)

    def _interrupted(self, result: JobResult, node_id: str) -> JobResult:
        result.status = "interrupted"
        result.interrupted_at = node_id
        self.send(JobInterrupted(self.job_id, node_id))
        return result

    def _failed(self, result: JobResult, node: WorkflowNode, error: Exception, kwargs: dict[str, Any]) -> JobResult:
        kind = type(error)
        exception_type = (
            kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        )
        details = NodeFailed(
            self.job_id,
            node.node_id,
            node.class_type,
            str(error) or kind.__name__,
            exception_type,
            tuple(traceback.format_exception(error)),
            {name: describe_input(value) for name, value in kwargs.items()},
        )
        log.warning("job %s: node %s (%s) failed: %s", self.job_id, node.node_id, node.class_type, details.message)
        result.status = "failed"
        result.error = details
        self.send(details)
        return result


def _unpack(spec: NodeSpec, record: Any, socket_types: SocketTypes) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    if not isinstance(record, spec.output_type):
        raise TypeError(
            f"node {spec.node_id} returned {type(record).__name__}, expected its output record "
            f"{spec.output_type.__name__}"
        )
    values = tuple(getattr(record, output.name) for output in spec.outputs)
    for output, value in zip(spec.outputs, values, strict=True):
        kind = socket_types.get(output.type_name)
        if kind is not None and not kind.accepts(value):
            raise TypeError(
                f"node {spec.node_id} returned a {type(value).__name__} on output {output.name!r}, expected a "
                f"{output.type_name} ({kind.python_class_name})"
            )
    ui = getattr(record, "ui", None) if isinstance(record, Outputs) else None
    if ui is not None and not isinstance(ui, dict):
        raise TypeError(f"node {spec.node_id} returned a ui of type {type(ui).__name__}, expected a dict or None")
    return values, ui


def describe_input(value: Any) -> str:
    """A short readable form of a node input for error reports (tensors by shape and dtype, never printed whole)."""
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, type):
        return f"{type(value).__name__}(shape={tuple(shape)}, dtype={getattr(value, 'dtype', '?')})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {describe_input(item)}" for key, item in list(value.items())[:8]) + "}"
    return short_repr(value, 200)
