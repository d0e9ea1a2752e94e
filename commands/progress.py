"""Progress bars on stderr for a headless run: one over the job's nodes, one over the running node's steps."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from graph.events import Event, NodeDone, NodeFailed, NodesCached, NodeStarted, Progress
from graph.modes import executable_view
from graph.registry import NodeRegistry
from graph.validate import ancestors_and_self
from graph.workflow import Workflow


class ProgressDisplay:
    """A tqdm bar over the nodes of the job and one over the steps of the running node (sampler steps)."""

    def __init__(
        self, workflow: Workflow, registry: NodeRegistry, *, enabled: bool, stream: TextIO | None = None
    ) -> None:
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
