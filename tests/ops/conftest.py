"""Op-node fixtures: the private base directory of the files area (models/ folders for loader tests)."""

from tests.files.conftest import base  # noqa: F401  (pytest finds fixtures by name)
