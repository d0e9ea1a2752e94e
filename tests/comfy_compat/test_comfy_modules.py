"""The ComfyUI module surface packs import: folder_paths, comfy.utils, comfy.model_management, nodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import folders
import nodes
from graph.events import Event, JobInterrupted, NodeFailed, Progress
from graph.executor import Executor, InterruptFlag, JobResult
from graph.formats import load_workflow
from graph.registry import NodeRegistry
from graph.runtime import Interrupted
from graph.validate import validate

PACKS = Path(__file__).resolve().parent / "custom_nodes_comfy"


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    previous = folders.use(folders.Folders.at(tmp_path))
    yield tmp_path
    folders.use(previous)


def run(registry: NodeRegistry, prompt: dict[str, Any], interrupt: InterruptFlag | None = None
        ) -> tuple[JobResult, list[Event]]:
    events: list[Event] = []
    result = Executor(registry).run(load_workflow(prompt, registry), job_id="j", emit=events.append,
                                    interrupt=interrupt or InterruptFlag())
    return result, events


def test_progress_bar_drives_progress_events_and_folder_paths_saves_inside_output(base: Path) -> None:
    registry = nodes.load_catalog(PACKS)
    prompt = {
        "1": {"class_type": "TestCountSteps", "inputs": {"steps": 4}},
        "2": {"class_type": "TestSaveNote",
              "inputs": {"text": "hello", "filename_prefix": "notes/n", "count": ["1", 0]}},
    }
    result, events = run(registry, prompt)
    assert result.status == "succeeded", result.error
    assert [(e.value, e.total) for e in events if isinstance(e, Progress) and e.node_id == "1"] == [
        (1, 4), (2, 4), (3, 4), (4, 4)
    ]
    assert result.outputs["2"] == {"notes": [{"filename": "n_00001_.txt", "subfolder": "notes", "type": "output"}]}
    assert (base / "output" / "notes" / "n_00001_.txt").read_text() == "hello x4"
    escaping = {"1": {"class_type": "TestSaveNote", "inputs": {"text": "x", "filename_prefix": "../../evil"}}}
    assert validate(load_workflow(escaping, registry), registry) == []  # a STRING to ComfyUI: refused at run time
    failed, _ = run(registry, escaping)
    assert failed.status == "failed" and not (base.parent / "evil_00001_.txt").exists()


def test_added_model_folders_feed_combos_and_get_full_path(base: Path) -> None:
    (base / "models" / "test_notes").mkdir(parents=True)
    (base / "models" / "test_notes" / "a.safetensors").write_text("note a")
    registry = nodes.load_catalog(PACKS)
    import folder_paths  # importable once the catalog loaded ComfyUI packs

    assert folder_paths.get_filename_list("test_notes") == ["a.safetensors"]
    assert folder_paths.get_full_path("test_notes", "../../etc/passwd") is None
    with pytest.raises(FileNotFoundError):
        folder_paths.get_full_path_or_raise("test_notes", "b.safetensors")
    assert folder_paths.models_dir == str(base / "models")
    assert folder_paths.get_input_directory() == str(base / "input")
    (base / "input").mkdir(exist_ok=True)
    assert folder_paths.get_annotated_filepath("x.png [output]") == str((base / "output" / "x.png").resolve())
    result, _ = run(registry, {
        "1": {"class_type": "TestReadNote", "inputs": {"note": "a.safetensors"}},
        "2": {"class_type": "TestShowAnything", "inputs": {"value": ["1", 0], "label": "n"}},
    })
    assert result.status == "succeeded" and result.outputs["2"]["text"][0].startswith("n='note a'")
    refused = validate(load_workflow({"1": {"class_type": "TestReadNote", "inputs": {"note": "zzz"}}}, registry),
                       registry)
    assert any("input 'note'" in issue.message and "zzz" in issue.message for issue in refused)


def test_a_missing_symbol_names_itself_and_the_pack(base: Path) -> None:
    registry = nodes.load_catalog(PACKS)
    result, _ = run(registry, {"1": {"class_type": "TestUsesMissingHelper", "inputs": {}},
                               "2": {"class_type": "TestShowAnything", "inputs": {"value": ["1", 0], "label": "x"}}})
    assert isinstance(result.error, NodeFailed)
    assert "comfy.utils.a_helper_latent_loom_lacks" in result.error.message
    assert "pack 'files_pack'" in result.error.message
    import comfy.utils

    assert not hasattr(comfy.utils, "another_missing_helper")  # hasattr probes still work


def test_interrupt_checks_raise_the_engine_interrupt(base: Path) -> None:
    import comfy.model_management as mm

    assert mm.InterruptProcessingException is Interrupted
    registry = nodes.load_catalog(PACKS)
    flag = InterruptFlag()
    flag.set()
    result, events = run(registry, {"1": {"class_type": "TestCountSteps", "inputs": {"steps": 3}},
                                    "2": {"class_type": "TestShowAnything",
                                          "inputs": {"value": ["1", 0], "label": "x"}}}, flag)
    assert result.status == "interrupted" and any(isinstance(e, JobInterrupted) for e in events)


def test_common_upscale_matches_interpolate_and_crops_center() -> None:
    nodes.load_catalog([])  # no plugin folder: shims are installed only with one
    from comfy_compat.loader import install_shims

    install_shims()
    import comfy.utils

    samples = torch.rand(2, 4, 8, 12) * 4 - 2  # latents: not clamped
    out = comfy.utils.common_upscale(samples, 6, 4, "bilinear", "disabled")
    assert torch.equal(out, torch.nn.functional.interpolate(samples, size=(4, 6), mode="bilinear"))
    cropped = comfy.utils.common_upscale(samples, 8, 8, "nearest-exact", "center")
    assert torch.equal(cropped, torch.nn.functional.interpolate(samples[:, :, :, 2:10], size=(8, 8),
                                                                  mode="nearest-exact"))
    assert nodes.MAX_RESOLUTION == 16384


def test_prompt_server_says_web_directories_are_served() -> None:
    import server

    PromptServer: Any = server.PromptServer  # what `from server import PromptServer` gives a pack

    # Packs check this before copying their scripts into the install (they would write into comfy_compat/).
    assert "custom_nodes_from_web" in PromptServer.instance.supports
    with pytest.raises(AttributeError, match=r"server\.PromptServer\.instance\.prompt_queue"):
        _ = PromptServer.instance.prompt_queue
