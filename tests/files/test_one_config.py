"""Issue 12 point 4: `server.py run` takes the server's device, precision, folder, extra-model-paths and
custom-node flags, declared and applied in one place (runconfig.py), and loads custom nodes the same way."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cli
import runconfig
from api.config import build_parser, config_from_args

REPO = Path(__file__).resolve().parents[2]
STUB_NODES = REPO / "tests" / "api" / "custom_nodes"


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _run_parser() -> argparse.ArgumentParser:
    subparsers = next(a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = subparsers.choices["run"]
    return parser


def test_engine_flags_are_the_same_for_server_and_cli() -> None:
    engine = argparse.ArgumentParser()
    runconfig.add_engine_flags(engine)
    engine_flags = _options(engine) - {"-h", "--help"}
    assert {"--cpu", "--force-fp32", "--cpu-bf16", "--base-directory", "--output-directory",
            "--extra-model-paths-config", "--custom-nodes-directory", "--user-directory"} <= engine_flags
    assert engine_flags <= _options(build_parser())
    assert engine_flags <= _options(_run_parser())


def test_both_parse_to_the_same_engine_config(tmp_path: Path) -> None:
    flags = ["--base-directory", str(tmp_path), "--cpu", "--force-fp32", "--custom-nodes-directory",
             str(STUB_NODES), "--extra-model-paths-config", str(tmp_path / "extra.yaml"),
             "--user-directory", str(tmp_path / "users")]
    server = config_from_args(flags).engine()
    run = runconfig.engine_config(_run_parser().parse_args(["workflow.json", *flags]))
    assert server == run
    assert server.cpu and server.force_fp32 and server.custom_nodes_directory == STUB_NODES


def test_run_takes_server_flags_and_loads_custom_nodes_like_the_server(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "extra.yaml").write_text(f"extra:\n  base_path: {tmp_path / 'shared'}\n  checkpoints: models\n")
    workflow = tmp_path / "stub.json"
    workflow.write_text(json.dumps({
        "1": {"class_type": "StubNumber", "inputs": {"value": 7}},
        "3": {"class_type": "StubSave", "inputs": {"value": ["1", 0], "filename_prefix": "one_config"}},
    }))
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "server.py", "run", str(workflow), "--base-directory", str(base), "--cpu", "--force-fp32",
         "--custom-nodes-directory", str(STUB_NODES), "--extra-model-paths-config", str(base / "extra.yaml"),
         "--output-directory", str(out), "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    written = [Path(line) for line in done.stdout.split() if line.endswith(".png")]
    assert written and all(path.parent == out and path.is_file() for path in written)
    assert written[0].name.startswith("one_config_")


def test_a_bad_extra_model_paths_file_is_refused_by_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("comfyui: [not, a, mapping\n")
    workflow = tmp_path / "w.json"
    workflow.write_text(json.dumps({"1": {"class_type": "StubNumber", "inputs": {"value": 1}}}))
    code = cli.main(["run", str(workflow), "--base-directory", str(tmp_path), "--extra-model-paths-config",
                     str(bad)])
    assert code == 2
