"""Model-stack fixtures: the shared tiny-model builders (see tests/fixtures/tiny_models.py)."""

from tests.fixtures.tiny_models import (  # noqa: F401  (pytest finds fixtures by name)
    tiny_models_dir,
    tiny_sd1,
    tiny_sd1_checkpoint,
    tiny_sd1_controlnet,
    tiny_sd1_controlnet_model,
    tiny_sd1_lora,
    tiny_sd1_lora_factors,
    tiny_sd2_v,
    tiny_sd2_v_checkpoint,
    tiny_sdxl,
    tiny_sdxl_checkpoint,
)
