"""The one configuration of the engine, shared by the server and the CLI (`python server.py run ...`).

Device, precision, folders, extra model paths and custom nodes are declared once here (`add_engine_flags`), parsed
once (`engine_config`), and applied once (`prepare`): the same environment for the device policy, the same
folders, the same plugin folders loaded in the same order. `server.py` and `cli.py` both call these three.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from folders import Folders
    from graph.registry import NodeRegistry


@dataclass(frozen=True)
class EngineConfig:
    """Where models and files are, which plugins load, and how tensors are placed."""

    base_directory: Path | None = None
    input_directory: Path | None = None
    output_directory: Path | None = None
    temp_directory: Path | None = None
    user_directory: Path | None = None
    extra_model_paths_config: tuple[Path, ...] = ()
    custom_nodes_directory: Path | None = None
    #: ComfyUI's --disable-all-custom-nodes: no plugin folder is loaded (the built-in catalog only).
    disable_all_custom_nodes: bool = False
    cpu: bool = False
    force_fp32: bool = False
    cpu_bf16: bool = False


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """The engine's flags (ComfyUI's names where they exist), for the server's parser and the CLI's."""
    group = parser.add_argument_group("engine: device, precision, folders, plugins (same for server and CLI)")
    group.add_argument("--base-directory", type=Path, help="holds models/, input/, output/, temp/, user/")
    group.add_argument("--input-directory", type=Path, help="where LoadImage reads")
    group.add_argument("--output-directory", "--output", dest="output_directory", type=Path,
                       help="where SaveImage writes")
    group.add_argument("--temp-directory", type=Path, help="parent of the temp/ folder (previews)")
    group.add_argument("--user-directory", type=Path, help="settings, workflows and the job database")
    group.add_argument("--extra-model-paths-config", type=Path, action="append", default=[],
                       help="a ComfyUI extra_model_paths.yaml (repeatable)")
    group.add_argument("--custom-nodes-directory", type=Path, help="plugin folder (default: BASE/custom_nodes)")
    group.add_argument("--disable-all-custom-nodes", action="store_true",
                       help="load no plugins (custom_nodes/ folders), only the built-in nodes")
    group.add_argument("--cpu", action="store_true", help="run everything on the CPU")
    group.add_argument("--force-fp32", action="store_true", help="fp32 everywhere, also on a GPU")
    group.add_argument("--cpu-bf16", action="store_true",
                       help="bf16 UNet and text encoders on the CPU (about 2x faster, outputs move by ~1e-2)")


def engine_config(args: argparse.Namespace) -> EngineConfig:
    """The EngineConfig of parsed arguments (from a parser given `add_engine_flags`)."""
    return EngineConfig(
        base_directory=args.base_directory,
        input_directory=args.input_directory,
        output_directory=args.output_directory,
        temp_directory=args.temp_directory,
        user_directory=args.user_directory,
        extra_model_paths_config=tuple(args.extra_model_paths_config),
        custom_nodes_directory=args.custom_nodes_directory,
        disable_all_custom_nodes=args.disable_all_custom_nodes,
        cpu=args.cpu,
        force_fp32=args.force_fp32,
        cpu_bf16=args.cpu_bf16,
    )


def apply_device_policy(config: EngineConfig) -> None:
    """Set what diffusion.devices reads, before any model loads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if config.cpu:
        os.environ["LATENT_LOOM_DEVICE"] = "cpu"
    if config.force_fp32:
        os.environ["LATENT_LOOM_FORCE_FP32"] = "1"
    if config.cpu_bf16:
        os.environ["LATENT_LOOM_CPU_BF16"] = "1"


def configure_folders(config: EngineConfig) -> Folders:
    """The process-wide folders (raises folders.ExtraModelPathsError on a bad extra_model_paths.yaml)."""
    import folders

    return folders.configure(
        config.base_directory,
        input_directory=config.input_directory,
        output_directory=config.output_directory,
        temp_directory=config.temp_directory,
        user_directory=config.user_directory,
        extra_model_paths_configs=list(config.extra_model_paths_config),
    )


def plugin_directories(config: EngineConfig, layout: Folders) -> list[Path]:
    """--custom-nodes-directory first, then BASE/custom_nodes and those of extra_model_paths.yaml; none when
    --disable-all-custom-nodes."""
    if config.disable_all_custom_nodes:
        return []
    ordered = [config.custom_nodes_directory] if config.custom_nodes_directory else []
    return ordered + [path for path in layout.custom_nodes_directories if path not in ordered]


def prepare(config: EngineConfig) -> tuple[Folders, NodeRegistry]:
    """Apply the configuration: device policy, folders, the node catalog with its plugins, model folders."""
    apply_device_policy(config)
    layout = configure_folders(config)
    import folders
    import nodes

    registry = nodes.load_catalog(plugin_directories(config, layout))
    # Only the model folders some registered node reads from (plugins included) are created.
    layout.ensure_layout(folders.folder_uses(registry))
    return layout, registry
