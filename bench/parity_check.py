"""Reproduce ComfyUI's reference latents (../shared/parity) with our sampling stack and report the gap.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/parity_check.py [--parity-dir ../shared/parity] [--cases a,b]

Regenerates the deterministic random SD1.5 checkpoint into bench/.cache/ when missing (about a minute,
2.1 GB), then runs each case on the CPU in fp32 and prints max|ours − ref| / std(ref) for every saved latent.
Plain KSampler cases run the sampling function directly; the others (custom sampling, model patches) run the
case's ComfyUI API workflow unchanged through our graph executor, with the checkpoint linked into a temporary
models folder and the parity inputs copied into its input folder, and compare each ``SaveLatent`` output with
the reference file of the same node id. The InstructPix2Pix (8-channel) and inpainting (9-channel) checkpoints are
written by the parity folder's own scripts too, when a case needs them (another 2.1 GB each). Same algorithm and
conventions land far below 1e-3.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffusion.models.checkpoint import load_checkpoint  # noqa: E402
from diffusion.sampling.ksampler import sample  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
CHECKPOINT = CACHE / "models" / "checkpoints" / "sd15_random.safetensors"


def ensure_checkpoint(parity_dir: Path) -> Path:
    """Write the random SD1.5 checkpoint with the parity folder's own script, once."""
    if not CHECKPOINT.exists():
        CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
        print(f"writing {CHECKPOINT} (about a minute) ...", flush=True)
        subprocess.run([sys.executable, str(parity_dir / "make_sd15_random.py"), "--ckpt", str(CHECKPOINT),
                        "--controlnet", ""], check=True)
    return CHECKPOINT


#: The parity folder's generator script and its output flag, per checkpoint name a case may load.
GENERATORS = {
    "sd15_random.safetensors": ("make_sd15_random.py", ["--controlnet", "", "--ckpt"]),
    "ip2p_random.safetensors": ("make_ip2p_random.py", ["--out"]),
    "inpaint_random.safetensors": ("make_inpaint_random.py", ["--out"]),
}


def ensure_case_files(parity_dir: Path, workflow: dict[str, Any]) -> bool:
    """Write the checkpoints a graph case loads and copy its input images into the base folder; False if a
    checkpoint has no generator here."""
    for node in workflow.values():
        name = node["inputs"].get("ckpt_name") if node["class_type"] == "CheckpointLoaderSimple" else None
        if name is None:
            continue
        if name not in GENERATORS:
            return False
        target = CHECKPOINT.parent / name
        if not target.exists():
            script, flags = GENERATORS[name]
            print(f"writing {target} (about a minute) ...", flush=True)
            subprocess.run([sys.executable, str(parity_dir / script), *flags, str(target)], check=True)
    inputs = CACHE / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    for image in (parity_dir / "inputs").glob("*.png"):
        if not (inputs / image.name).exists():
            shutil.copyfile(image, inputs / image.name)
    return True


def _linked(workflow: dict[str, Any], link: Any) -> dict[str, Any]:
    node: dict[str, Any] = workflow[str(link[0])]
    return node


def case_settings(workflow: dict[str, Any]) -> dict[str, Any]:
    """The KSampler inputs, prompts and latent size of a ComfyUI API workflow."""
    ksampler = next(n for n in workflow.values() if n["class_type"] == "KSampler")["inputs"]
    latent = _linked(workflow, ksampler["latent_image"])
    if latent["class_type"] != "EmptyLatentImage":
        raise ValueError(f"parity case: expected an EmptyLatentImage, found {latent['class_type']}")
    return {
        "seed": int(ksampler["seed"]), "steps": int(ksampler["steps"]), "cfg": float(ksampler["cfg"]),
        "sampler_name": ksampler["sampler_name"], "scheduler": ksampler["scheduler"],
        "denoise": float(ksampler["denoise"]),
        "positive": _linked(workflow, ksampler["positive"])["inputs"]["text"],
        "negative": _linked(workflow, ksampler["negative"])["inputs"]["text"],
        "width": int(latent["inputs"]["width"]), "height": int(latent["inputs"]["height"]),
        "batch_size": int(latent["inputs"]["batch_size"]),
    }


#: Node types of the plain KSampler cases, which run without the graph.
PLAIN_NODES = {"CheckpointLoaderSimple", "EmptyLatentImage", "CLIPTextEncode", "KSampler", "SaveLatent", "VAEDecode",
               "SaveImage"}


def is_plain(workflow: dict[str, Any]) -> bool:
    return {n["class_type"] for n in workflow.values()} <= PLAIN_NODES


def run_graph_case(workflow: dict[str, Any], checkpoint: Path) -> dict[str, torch.Tensor]:
    """Run a ComfyUI API workflow through our executor; the samples each SaveLatent node wrote, by node id."""
    import folders
    import nodes
    from graph.executor import Executor, InterruptFlag
    from graph.formats import load_workflow
    from graph.registry import REGISTRY
    from graph.validate import validate

    # bench/.cache is the base folder (its models/checkpoints holds the checkpoint); outputs go to a temp dir.
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        folders.configure(checkpoint.parents[2], output_directory=tmp)
        nodes.load_catalog(None)
        graph = load_workflow(workflow, REGISTRY)
        issues = validate(graph, REGISTRY)
        if issues:
            raise RuntimeError(f"workflow refused: {issues}")
        result = Executor(REGISTRY).run(graph, job_id="parity", emit=lambda event: None, interrupt=InterruptFlag())
        if result.status != "succeeded":
            raise RuntimeError(f"workflow failed: {result.error}")
        latents: dict[str, torch.Tensor] = {}
        out_dir = Path(tmp)
        for node_id, ui in result.outputs.items():
            for item in ui.get("latents", []):
                path = out_dir / item.get("subfolder", "") / item["filename"]
                latents[node_id] = load_file(str(path))["latent_tensor"].float()
        return latents


def compare(name: str, ours: torch.Tensor, reference: torch.Tensor, seconds: float) -> float:
    # An all-zero reference (InstructPixToPixConditioning's empty latent) is compared by its largest difference.
    scale = float(reference.std())
    gap = float((ours - reference).abs().max() / (scale if scale > 0 else 1.0))
    print(f"{name:34s} max|ours-ref|/std(ref) = {gap:.3e}   ({seconds:.1f}s)", flush=True)
    return gap


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parity-dir", type=Path, default=ROOT.parent / "shared" / "parity")
    parser.add_argument("--cases", default="", help="comma-separated case folders (default: all)")
    args = parser.parse_args()
    torch.manual_seed(0)
    cases = sorted(p for p in args.parity_dir.iterdir() if (p / "workflow.json").exists())
    if args.cases:
        wanted = set(args.cases.split(","))
        cases = [c for c in cases if c.name in wanted]
    loaded: list[Any] = []

    def plain_model() -> tuple[Any, Any]:
        """The checkpoint loaded directly, once (only plain cases need it; graph cases load their own)."""
        if not loaded:
            started = time.perf_counter()
            path = ensure_checkpoint(args.parity_dir)
            loaded.extend(load_checkpoint(path, device=torch.device("cpu"), dtype=torch.float32)[:2])
            print(f"loaded checkpoint in {time.perf_counter() - started:.1f}s", flush=True)
        return loaded[0], loaded[1]

    worst = 0.0
    for case in cases:
        workflow = json.loads((case / "workflow.json").read_text())
        t0 = time.perf_counter()
        if not is_plain(workflow):
            if not ensure_case_files(args.parity_dir, workflow):
                print(f"{case.name:34s} skipped (no generator for its checkpoint)")
                continue
            latents = run_graph_case(workflow, CHECKPOINT)
            for ref_path in sorted(case.glob("*.latent")):
                node_id = ref_path.name.split("_", 1)[0]
                reference = load_file(str(ref_path))["latent_tensor"].float()
                gap = compare(f"{case.name}/{ref_path.stem}", latents[node_id], reference,
                              time.perf_counter() - t0)
                worst = max(worst, gap)
            continue
        settings = case_settings(workflow)
        model, clip = plain_model()
        reference = load_file(str(next(case.glob("*.latent"))))["latent_tensor"].float()
        latent = {"samples": torch.zeros(settings["batch_size"], 4, settings["height"] // 8, settings["width"] // 8)}
        out = sample(model, seed=settings["seed"], steps=settings["steps"], cfg=settings["cfg"],
                     sampler_name=settings["sampler_name"], scheduler=settings["scheduler"],
                     positive=[clip.encode(settings["positive"])], negative=[clip.encode(settings["negative"])],
                     latent=latent, denoise=settings["denoise"])["samples"]
        worst = max(worst, compare(case.name, out, reference, time.perf_counter() - t0))
    print(f"worst: {worst:.3e} ({'OK' if worst < 1e-3 else 'MISMATCH'}: threshold 1e-3)")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
