"""Fixtures for the files area: a private base directory installed as the process-wide folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import folders


@pytest.fixture
def base(tmp_path: Path) -> Iterator[folders.Folders]:
    """A fresh layout under tmp_path/base, installed as the process-wide folders for the test."""
    layout = folders.Folders.at(tmp_path / "base")
    layout.ensure_layout(folders.DEFAULT_MODEL_FOLDERS)  # every kind: the tests put files anywhere
    previous = folders.use(layout)
    try:
        yield layout
    finally:
        folders.use(previous)
