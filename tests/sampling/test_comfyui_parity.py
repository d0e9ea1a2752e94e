"""Real ComfyUI outputs (../shared/parity) reproduced on the full-size random SD1.5 checkpoint (slow: minutes
of CPU, writes a 2 GB checkpoint into bench/.cache/ the first time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARITY = ROOT.parent / "shared" / "parity"


@pytest.mark.slow
@pytest.mark.skipif(not PARITY.is_dir(), reason="no ../shared/parity reference folder")
def test_comfyui_reference_latents() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "parity_check.py"), "--parity-dir", str(PARITY)],
                            capture_output=True, text=True, timeout=3600)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
