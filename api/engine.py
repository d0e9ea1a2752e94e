"""The API's one doorway into the engine: read + validate a submission, convert formats, run a stored job."""

from __future__ import annotations

import gc
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from api.conversion import missing_node_types, missing_types_body
from api.redact import redact_json
from api.store import Job
from graph.cache import OutputCache
from graph.comfy_errors import comfy_error_response, format_error_response
from graph.events import Event
from graph.executor import Executor, HiddenValues, InterruptFlag
from graph.formats import WorkflowFormatError, load_workflow, to_api_prompt, to_native
from graph.memory import GOVERNOR
from graph.registry import NodeRegistry
from graph.validate import Analysis, analyse
from graph.workflow import Workflow

#: Parsed submissions kept in memory for their run; beyond this many pending, the oldest are parsed again.
MAX_PREPARED_JOBS = 1000


class PromptRejected(Exception):
    """A submission that failed to parse or validate; `body` is ComfyUI's 400 response body."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("error", {}).get("message", "invalid prompt")))
        self.body = redact_json(body)  # a refusal names folders relative to the base directory, never by path


class EngineAdapter:
    """Adapts graph.formats / graph.validate / graph.executor to what the routes and the worker need."""

    def __init__(self, registry: NodeRegistry) -> None:
        self.registry = registry
        # Outputs and loaded models share the process's memory budgets (graph/memory.py).
        self.executor = Executor(registry, cache=OutputCache(governor=GOVERNOR))
        #: Jobs parsed and validated at submission, by id, until they run: a job is parsed and validated once.
        #: Jobs from an earlier server process (read back from the store) are parsed and validated when they run.
        self._prepared: OrderedDict[str, tuple[Workflow, Analysis]] = OrderedDict()
        self._lock = threading.Lock()

    def _load(self, data: Any) -> Any:
        try:
            return load_workflow(data, self.registry)
        except WorkflowFormatError as error:
            raise PromptRejected(format_error_response(error)) from None

    def prepare(self, data: Any, targets: list[str] | None, job_id: str | None = None) -> dict[str, Any]:
        """The API prompt to queue; raises PromptRejected with ComfyUI's 400 body if anything is invalid.

        With `job_id`, the parsed and validated workflow is kept for `run` (see `forget` when queueing fails).
        """
        workflow = self._load(data)
        analysis = analyse(workflow, self.registry, limits=self.executor.limits, targets=targets or None)
        if analysis.issues:
            raise PromptRejected(comfy_error_response(analysis.issues))
        if job_id is not None:
            with self._lock:
                self._prepared[job_id] = (workflow, analysis)
                while len(self._prepared) > MAX_PREPARED_JOBS:
                    self._prepared.popitem(last=False)  # the oldest is parsed again when it runs
        return to_api_prompt(workflow, self.registry)

    def forget(self, job_id: str) -> None:
        """Drop what `prepare` kept for a job that was not queued after all."""
        with self._lock:
            self._prepared.pop(job_id, None)

    def convert(self, data: Any) -> dict[str, Any]:
        """Any accepted format → both the API prompt and our native file."""
        workflow = self._load(data)
        missing = missing_node_types(workflow, self.registry)
        if missing:  # converting would drop their widget values silently
            raise PromptRejected(missing_types_body(missing))
        return {"prompt": to_api_prompt(workflow, self.registry), "workflow": to_native(workflow)}

    def new_interrupt(self) -> InterruptFlag:
        return InterruptFlag()

    def run(self, job: Job, emit: Callable[[Event], None], interrupt: InterruptFlag) -> None:
        """Run a queued job to its end; its outcome is what its events say (`emit`, folded by api.messages)."""
        with self._lock:
            prepared = self._prepared.pop(job.id, None)
        workflow, analysis = prepared if prepared is not None else (self._load(job.prompt), None)
        extra_pnginfo = job.extra_data.get("extra_pnginfo")
        hidden = HiddenValues(
            prompt=job.prompt, extra_pnginfo=extra_pnginfo if isinstance(extra_pnginfo, dict) else None
        )
        self.executor.run(
            workflow, job_id=job.id, emit=emit, interrupt=interrupt, hidden=hidden, targets=job.targets or None,
            analysis=analysis,
        )

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop cached outputs and loaded models (between jobs)."""
        if free_memory or unload_models:
            self.executor.cache.clear()
        if unload_models:
            # Only if the loaders are in use: a stats-only server never imports torch for this.
            model_cache = sys.modules.get("diffusion.models.cache")
            if model_cache is not None:
                model_cache.MODEL_CACHE.free()
        gc.collect()

    def node_type(self, job: Job, node_id: str) -> str:
        node = job.prompt.get(node_id)
        return str(node.get("class_type", "")) if isinstance(node, dict) else ""
