"""Walks every node of the real catalog (it grows during the day): loads cleanly, obeys the node API's rules,
exports a JSON schema, has defaults that pass strict validation, and converts from a ComfyUI UI workflow."""

from __future__ import annotations

import json
from typing import Any

import pytest

import nodes
from graph.formats import load_workflow, widget_inputs
from graph.registry import REGISTRY, check_spec
from graph.schema import object_info
from graph.spec import NodeSpec
from graph.validate import check_value

CATALOG = nodes.load_catalog()
SPECS = sorted(CATALOG, key=lambda spec: spec.node_id)


def test_catalog_loads_without_errors() -> None:
    assert CATALOG is not REGISTRY and set(CATALOG.specs) <= {spec.node_id for spec in REGISTRY}
    assert CATALOG.load_errors == [], [f"{e.module}: {e.message}" for e in CATALOG.load_errors]
    assert len(CATALOG) > 0


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.node_id)
def test_every_node_obeys_the_rules_and_exports_its_schema(spec: NodeSpec) -> None:
    check_spec(spec)
    info = json.loads(json.dumps(object_info(spec)))
    assert info["name"] == spec.node_id
    for section, names in info["input_order"].items():
        assert list(info["input"][section]) == names
    assert len(info["output"]) == len(info["output_name"]) == len(info["output_is_list"]) == len(spec.outputs)
    json.dumps(info)
    names = [item.name for item in spec.inputs]
    assert len(names) == len(set(names)), f"duplicate input names in {spec.node_id}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.node_id)
def test_every_default_passes_strict_validation(spec: NodeSpec) -> None:
    for item in spec.inputs:
        if item.is_socket or item.section == "hidden" or not item.has_default or item.default is None:
            continue
        if item.choices is not None:
            item.combo_options()  # a provider must list (possibly nothing) without raising
            continue
        assert check_value(spec, item.name, item.default) == [], f"{spec.node_id}.{item.name}={item.default!r}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.node_id)
def test_every_node_reads_back_from_a_comfyui_ui_workflow(spec: NodeSpec) -> None:
    values: list[Any] = []
    expected: dict[str, Any] = {}
    for item in widget_inputs(spec):
        value = item.default if item.has_default else "some-file.png"
        values.append(value)
        expected[item.name] = value
        if item.seed is not None:
            values.append("fixed")
        if item.image_upload:
            values.append("image")
    ui = {
        "version": 0.4,
        "links": [],
        "nodes": [{"id": 1, "type": spec.node_id, "pos": [0, 0], "mode": 0, "widgets_values": values}],
    }
    workflow = load_workflow(ui, CATALOG)
    assert workflow["1"].inputs == expected


def test_each_catalog_socket_annotation_is_the_class_the_vocabulary_names() -> None:
    import typing

    import nodes.sockets as catalog_sockets
    from graph.sockets import SOCKET_TYPES, Socket

    checked = 0
    for name, annotation in vars(catalog_sockets).items():
        if typing.get_origin(annotation) is not typing.Annotated:
            continue
        base, *marks = typing.get_args(annotation)
        (socket,) = [mark for mark in marks if isinstance(mark, Socket)]
        definition = SOCKET_TYPES.get(socket.type_name)
        assert definition is not None and socket.type_name == name
        expected = definition.python_type.rpartition(":")[2]
        assert (typing.get_origin(base) or base).__name__ == expected, name
        checked += 1
    assert checked >= 9
