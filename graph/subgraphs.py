"""Flattening ComfyUI frontend subgraphs (frontend ≥ 1.24) into one level of nodes, as the frontend does before
it queues a prompt.

A subgraph instance is a node whose `type` is the id of an entry in `definitions.subgraphs`. Inside a definition,
links from the virtual node -10 come from the instance's input slot `origin_slot`, and links into the virtual
node -20 feed the instance's output slot `target_slot`. Inner nodes get ids "<instance id>:<inner id>" (nested:
"a:b:c"), ComfyUI's own convention, so error messages point at the same nodes in both tools.

Values of widgets promoted onto an instance are not applied: inner nodes keep their own widget values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUBGRAPH_INPUT_NODE = "-10"
SUBGRAPH_OUTPUT_NODE = "-20"
MAX_SUBGRAPH_DEPTH = 32

#: (origin id, origin slot, target id, target slot); ids are strings.
LinkFields = tuple[str, int, str, int]


class SubgraphError(ValueError):
    """A subgraph structure that cannot be flattened (turned into a WorkflowFormatError by the loader)."""


@dataclass
class _Level:
    """One graph level: the root, or the inside of one subgraph instance."""

    prefix: str
    nodes: dict[str, dict[str, Any]]
    links: dict[Any, LinkFields]
    parent: _Level | None = None
    instance_id: str | None = None
    children: dict[str, _Level] = field(default_factory=dict)


def link_fields(raw: Any) -> tuple[Any, LinkFields]:
    """(link id, fields) of a link written as an array (0.4) or an object (1); ValueError when neither."""
    if isinstance(raw, list) and len(raw) >= 5:
        link_id, origin, origin_slot, target, target_slot = raw[:5]
    elif isinstance(raw, dict) and {"id", "origin_id", "origin_slot", "target_id", "target_slot"} <= raw.keys():
        link_id, origin, origin_slot = raw["id"], raw["origin_id"], raw["origin_slot"]
        target, target_slot = raw["target_id"], raw["target_slot"]
    else:
        raise SubgraphError(
            "a link is [id, origin_id, origin_slot, target_id, target_slot, type] or an object with those fields"
        )
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in (origin_slot, target_slot)):
        raise SubgraphError(f"link slots must be integers, got {origin_slot!r} and {target_slot!r}")
    return link_id, (str(origin), origin_slot, str(target), target_slot)


class Flattener:
    """Builds the flat node list and link table of a UI workflow that uses subgraphs."""

    def __init__(self, definitions: dict[str, dict[str, Any]]) -> None:
        self.definitions = definitions
        self.nodes: dict[str, dict[str, Any]] = {}
        self.links: dict[Any, LinkFields] = {}

    def flatten(self, nodes: list[dict[str, Any]], links: list[Any]) -> None:
        """Flatten the root graph (and every instance inside it) into `self.nodes` / `self.links`."""
        self._emit(self._level("", nodes, links, None, None), muted=False, depth=0)

    def _level(self, prefix: str, nodes: Any, links: Any, parent: _Level | None, instance_id: str | None) -> _Level:
        by_id = {str(raw["id"]): raw for raw in nodes or [] if isinstance(raw, dict) and "id" in raw}
        table = dict(link_fields(raw) for raw in links or [])
        return _Level(prefix, by_id, table, parent, instance_id)

    def _child(self, level: _Level, instance_id: str, depth: int) -> _Level:
        if instance_id not in level.children:
            if depth >= MAX_SUBGRAPH_DEPTH:
                raise SubgraphError(f"subgraphs nest deeper than {MAX_SUBGRAPH_DEPTH} levels (one contains itself?)")
            definition = self.definitions[level.nodes[instance_id]["type"]]
            prefix = f"{level.prefix}{instance_id}:"
            level.children[instance_id] = self._level(
                prefix, definition.get("nodes"), definition.get("links"), level, instance_id
            )
        return level.children[instance_id]

    def _emit(self, level: _Level, *, muted: bool, depth: int) -> None:
        for local_id, raw in level.nodes.items():
            if raw.get("type") in self.definitions:
                inside_muted = muted or raw.get("mode") in (2, 4)  # a bypassed instance is routed around
                self._emit(self._child(level, local_id, depth + 1), muted=inside_muted, depth=depth + 1)
                continue
            node = dict(raw)
            node["id"] = level.prefix + local_id
            if muted:
                node["mode"] = 2
            slots = []
            for index, slot in enumerate(raw.get("inputs") or []):
                slot = dict(slot) if isinstance(slot, dict) else {}
                fields = level.links.get(slot.get("link")) if slot.get("link") is not None else None
                source = self._origin(level, fields[0], fields[1], depth) if fields else None
                if source is None:
                    slot["link"] = None
                else:
                    key = f"{node['id']}#{index}"
                    self.links[key] = (source[0], source[1], node["id"], index)
                    slot["link"] = key
                slots.append(slot)
            node["inputs"] = slots
            self.nodes[node["id"]] = node

    def _origin(self, level: _Level, origin: str, slot: int, depth: int) -> tuple[str, int] | None:
        """The flat (node id, output slot) producing output `slot` of `origin` at `level`, or None."""
        for _ in range(10_000):  # every step moves to another level or another node; bounded all the same
            if origin == SUBGRAPH_INPUT_NODE:
                parent, instance_id = level.parent, level.instance_id
                if parent is None or instance_id is None:
                    return None
                fields = _input_link(parent, instance_id, slot)
                if fields is None:
                    return None  # unconnected instance input: inner widgets keep their own values
                level, origin, slot = parent, fields[0], fields[1]
                continue
            raw = level.nodes.get(origin)
            if raw is None:
                return None
            if raw.get("type") not in self.definitions:
                return level.prefix + origin, slot
            mode = raw.get("mode")
            if mode == 2:
                return None
            if mode == 4:
                fields = _bypass_input(level, origin, raw, slot)
                if fields is None:
                    return None
                origin, slot = fields[0], fields[1]
                continue
            child = self._child(level, origin, depth + 1)
            into_output = [f for f in child.links.values() if f[2] == SUBGRAPH_OUTPUT_NODE and f[3] == slot]
            if not into_output:
                return None
            level, origin, slot = child, into_output[0][0], into_output[0][1]
        raise SubgraphError("subgraph links form a loop")


def _input_link(level: _Level, node_id: str, slot: int) -> LinkFields | None:
    inputs = level.nodes[node_id].get("inputs") or []
    if slot >= len(inputs) or not isinstance(inputs[slot], dict) or inputs[slot].get("link") is None:
        return None
    return level.links.get(inputs[slot]["link"])


def _bypass_input(level: _Level, node_id: str, raw: dict[str, Any], slot: int) -> LinkFields | None:
    """A bypassed instance passes the input of its output's type through (the same slot first)."""
    outputs = raw.get("outputs") or []
    inputs = raw.get("inputs") or []
    wanted = outputs[slot].get("type") if slot < len(outputs) and isinstance(outputs[slot], dict) else None
    order = [slot, *range(len(inputs))] if slot < len(inputs) else list(range(len(inputs)))
    for index in order:
        candidate = inputs[index]
        if isinstance(candidate, dict) and candidate.get("type") == wanted and candidate.get("link") is not None:
            return _input_link(level, node_id, index)
    return None
