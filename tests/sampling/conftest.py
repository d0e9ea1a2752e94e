"""Fixtures for the sampling tests."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNet2DConditionModel
from sampling_fixtures import TinyModel, tiny_unet

from diffusion.sampling.model_sampling import ModelSampling

# Tiny models gain nothing from threads, and on a shared 2-core machine two threads contend badly.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def unet() -> UNet2DConditionModel:
    return tiny_unet()


@pytest.fixture()
def model(unet: UNet2DConditionModel) -> TinyModel:
    return TinyModel(unet)


@pytest.fixture(scope="session")
def model_sampling() -> ModelSampling:
    return ModelSampling.scaled_linear()
