"""Fixtures for the see-and-compare tests: a private base directory with the tiny SD1 checkpoint in it, and the
shared real server process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import folders
from tests.api.conftest import server  # noqa: F401  (pytest finds fixtures by name)
from tests.files.conftest import base  # noqa: F401
from tests.fixtures.tiny_models import tiny_models_dir, tiny_sd1, tiny_sd1_checkpoint  # noqa: F401

TINY_CKPT = "tiny_sd1.safetensors"


@pytest.fixture
def tiny_base(base: folders.Folders, tiny_sd1_checkpoint: Path) -> folders.Folders:  # noqa: F811
    """The private base directory with the tiny SD1 checkpoint under models/checkpoints/."""
    target = base.base_directory / "models" / "checkpoints" / TINY_CKPT
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tiny_sd1_checkpoint, target)
    return base
