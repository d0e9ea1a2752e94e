"""Registry as a value: each module and plugin package builds its own registry, merged all or nothing."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from graph.registry import REGISTRY, NodeRegistry
from graph.spec import defined_in

PLUGIN = """
from typing import Annotated
from graph.sockets import Socket, register_socket_type
from graph.spec import Outputs, node

register_socket_type("{type_name}")

class Out(Outputs):
    value: Annotated[int, Socket("{type_name}")]

@node("{node_id}", category="plugins")
def make(value: int = 1) -> Out:
    return Out(value=value)
"""


def write_plugin(folder: Path, name: str, node_id: str, body: str = PLUGIN) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(body.format(node_id=node_id, type_name="PLUGIN_VALUE")))


def test_each_load_builds_an_independent_registry(tmp_path: Path) -> None:
    write_plugin(tmp_path, "alpha_nodes", "AlphaNode")
    first, second = NodeRegistry(), NodeRegistry()
    first.load_plugins(tmp_path)
    second.load_plugins(tmp_path)
    assert "AlphaNode" in first and "AlphaNode" in second
    assert NodeRegistry().get("AlphaNode") is None  # nothing leaks into a registry that did not load it
    assert first.load_errors == [] and first.get("AlphaNode") is not second.get("AlphaNode")  # each its own import


def test_a_package_contributes_the_nodes_of_its_submodules(tmp_path: Path) -> None:
    name = f"beta_pack_{uuid.uuid4().hex[:8]}"  # a fresh package: nothing of it is in sys.modules yet
    package = tmp_path / name
    write_plugin(package, "nodes", "BetaNode")
    (package / "__init__.py").write_text("from . import nodes\n")
    registry = NodeRegistry()
    registry.load_plugins(tmp_path)
    assert registry.load_errors == []
    assert [spec.node_id for spec in registry] == ["BetaNode"]
    beta = registry.get("BetaNode")
    assert beta is not None and beta.module == f"custom_nodes.{name}.nodes"


def test_a_plugin_that_fails_half_way_contributes_nothing(tmp_path: Path) -> None:
    write_plugin(tmp_path, "gamma_nodes", "GammaNode", PLUGIN + "\nraise RuntimeError('broken on purpose')\n")
    write_plugin(tmp_path, "zeta_nodes", "ZetaNode")
    registry = NodeRegistry()
    registry.load_plugins(tmp_path)
    assert "GammaNode" not in registry and "ZetaNode" in registry  # the rest still loads
    (error,) = registry.load_errors
    assert error.module.endswith("gamma_nodes.py") and error.message == "RuntimeError: broken on purpose"
    assert defined_in("custom_nodes.gamma_nodes") == [] and "GammaNode" not in REGISTRY


def test_a_plugin_reusing_a_node_id_is_refused_whole(tmp_path: Path) -> None:
    write_plugin(tmp_path, "delta_nodes", "SharedName")
    write_plugin(tmp_path, "epsilon_nodes", "SharedName")
    registry = NodeRegistry()
    registry.load_plugins(tmp_path)
    shared = registry.get("SharedName")
    assert shared is not None and shared.module == "custom_nodes.delta_nodes"
    (error,) = registry.load_errors
    assert error.message == (
        "NodeDefinitionError: node id 'SharedName' from custom_nodes.epsilon_nodes is already registered by "
        "custom_nodes.delta_nodes"
    )


def test_a_node_breaking_the_rules_fails_its_module_at_load(tmp_path: Path) -> None:
    bad = PLUGIN.replace('Socket("{type_name}")', 'Socket("UNDECLARED_THING")')
    write_plugin(tmp_path, "eta_nodes", "EtaNode", bad)
    registry = NodeRegistry()
    registry.load_plugins(tmp_path)
    assert "EtaNode" not in registry
    assert "unknown socket type 'UNDECLARED_THING'" in registry.load_errors[0].message


def test_a_missing_folder_loads_nothing(tmp_path: Path) -> None:
    registry = NodeRegistry()
    registry.load_plugins(tmp_path / "absent")
    assert len(registry) == 0 and registry.load_errors == []


def test_load_module_collects_an_importable_module_and_records_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plugin(tmp_path, "theta_importable_nodes", "ThetaNode")
    (tmp_path / "iota_broken_nodes.py").write_text("raise ImportError('missing dependency')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = NodeRegistry()
    assert registry.load_module("theta_importable_nodes") is True
    assert registry.load_module("iota_broken_nodes") is False
    assert [spec.node_id for spec in registry] == ["ThetaNode"]
    (error,) = registry.load_errors
    assert (error.module, error.message) == ("iota_broken_nodes", "ImportError: missing dependency")


def test_the_compatibility_view_sees_every_defined_node(tmp_path: Path) -> None:
    write_plugin(tmp_path, "kappa_nodes", "KappaNode")
    NodeRegistry().load_plugins(tmp_path)
    assert REGISTRY.get("KappaNode") is not None and "KappaNode" in REGISTRY
    assert "KappaNode" in [spec.node_id for spec in REGISTRY] and len(REGISTRY) >= 1
    assert REGISTRY.get("NoSuchNode") is None
