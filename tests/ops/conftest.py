"""Op-node fixtures: the files area's private base directory, and the shared tiny SDXL checkpoint."""

from tests.files.conftest import base  # noqa: F401  (pytest finds fixtures by name)
from tests.fixtures.tiny_models import tiny_models_dir, tiny_sdxl, tiny_sdxl_checkpoint  # noqa: F401
