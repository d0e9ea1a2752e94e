"""The API's one doorway into the engine: read + validate a submission, convert formats, run a stored job."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any

from api.conversion import missing_node_types, missing_types_body
from api.redact import redact_json
from api.store import Job
from graph.cache import OutputCache
from graph.executor import Executor, HiddenValues, InterruptFlag
from graph.formats import WorkflowFormatError, load_workflow, to_api_prompt, to_native
from graph.memory import GOVERNOR
from graph.registry import NodeRegistry
from graph.validate import comfy_error_response, validate


class PromptRejected(Exception):
    """A submission that failed to parse or validate; `body` is ComfyUI's 400 response body."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("error", {}).get("message", "invalid prompt")))
        self.body = redact_json(body)  # a refusal names folders relative to the base directory, never by path


def format_error_body(error: WorkflowFormatError) -> dict[str, Any]:
    """ComfyUI's 400 shape for a workflow that could not even be read (blamed on a node when known)."""
    node_errors: dict[str, Any] = {}
    if error.node_id is not None:
        node_errors[error.node_id] = {
            "errors": [{
                "type": "invalid_prompt",
                "message": str(error),
                "details": str(error),
                "extra_info": {"input_name": error.input_name} if error.input_name else {},
            }],
            "dependent_outputs": [],
            "class_type": None,
        }
    return {
        "error": {"type": "invalid_prompt", "message": str(error), "details": "", "extra_info": {}},
        "node_errors": node_errors,
    }


class EngineAdapter:
    """Adapts graph.formats / graph.validate / graph.executor to what the routes and the worker need."""

    def __init__(self, registry: NodeRegistry) -> None:
        self.registry = registry
        # Outputs and loaded models share the process's memory budgets (graph/memory.py).
        self.executor = Executor(registry, cache=OutputCache(governor=GOVERNOR))

    def _load(self, data: Any) -> Any:
        try:
            return load_workflow(data, self.registry)
        except WorkflowFormatError as error:
            raise PromptRejected(format_error_body(error)) from None

    def prepare(self, data: Any, targets: list[str] | None) -> dict[str, Any]:
        """The API prompt to queue; raises PromptRejected with ComfyUI's 400 body if anything is invalid."""
        workflow = self._load(data)
        issues = validate(workflow, self.registry, targets=targets or None)
        if issues:
            raise PromptRejected(comfy_error_response(issues))
        return to_api_prompt(workflow, self.registry)

    def convert(self, data: Any) -> dict[str, Any]:
        """Any accepted format → both the API prompt and our native file."""
        workflow = self._load(data)
        missing = missing_node_types(workflow, self.registry)
        if missing:  # converting would drop their widget values silently
            raise PromptRejected(missing_types_body(missing))
        return {"prompt": to_api_prompt(workflow, self.registry), "workflow": to_native(workflow)}

    def new_interrupt(self) -> InterruptFlag:
        return InterruptFlag()

    def run(self, job: Job, emit: Callable[[object], None], interrupt: InterruptFlag) -> tuple[str, dict[str, Any]]:
        """Run a queued job to its end (events arrive through `emit`); returns its status and ui outputs."""
        workflow = self._load(job.prompt)
        extra_pnginfo = job.extra_data.get("extra_pnginfo")
        hidden = HiddenValues(
            prompt=job.prompt, extra_pnginfo=extra_pnginfo if isinstance(extra_pnginfo, dict) else None
        )
        result = self.executor.run(
            workflow, job_id=job.id, emit=emit, interrupt=interrupt, hidden=hidden, targets=job.targets or None
        )
        return result.status, dict(result.outputs)

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
