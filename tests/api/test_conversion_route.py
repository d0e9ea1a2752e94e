"""POST /api/workflow/convert refuses a workflow that uses node types the server lacks (issue 12 point 5)."""

from __future__ import annotations

from typing import Any

from tests.api.server_harness import Server


def ui_workflow(*types: str) -> dict[str, Any]:
    nodes = [{"id": index + 1, "type": kind, "pos": [0, 0], "size": [100, 50], "flags": {}, "order": index,
              "mode": 0, "inputs": [], "outputs": [], "widgets_values": [42, "kept?"]}
             for index, kind in enumerate(types)]
    return {"last_node_id": len(nodes), "last_link_id": 0, "nodes": nodes, "links": [], "groups": [],
            "config": {}, "extra": {}, "version": 0.4}


def test_missing_node_types_refused_with_the_list(server: Server) -> None:
    reply = server.request("POST", "/api/workflow/convert",
                           ui_workflow("StubNumber", "FancyUpscaler", "OtherPack.Node", "FancyUpscaler"))
    assert reply.status == 400
    body = reply.json()
    assert body["error"]["type"] == "missing_node_types"
    assert body["missing_node_types"] == ["FancyUpscaler", "OtherPack.Node"]
    assert sorted(body["node_errors"]) == ["2", "3", "4"]
    assert body["node_errors"]["3"]["class_type"] == "OtherPack.Node"
    assert body["node_errors"]["2"]["errors"][0]["type"] == "unknown_node_type"
    assert "Traceback" not in reply.body.decode()


def test_known_types_still_convert(server: Server) -> None:
    reply = server.request("POST", "/api/workflow/convert", ui_workflow("StubNumber"))
    assert reply.status == 200, reply.body
    assert reply.json()["prompt"]["1"] == {"class_type": "StubNumber", "inputs": {"value": 42}}


def test_api_prompt_with_missing_type_refused(server: Server) -> None:
    reply = server.request("POST", "/api/workflow/convert", {"5": {"class_type": "NotHere", "inputs": {"a": 1}}})
    assert reply.status == 400 and reply.json()["missing_node_types"] == ["NotHere"]
