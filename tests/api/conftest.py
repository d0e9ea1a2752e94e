"""Fixtures for the API tests: a shared real server process (helpers in server_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.server_harness import Server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared server for tests that don't restart it or need special flags."""
    instance = Server(tmp_path_factory.mktemp("base")).start()
    try:
        yield instance
    finally:
        instance.stop()
