"""The trajectory observer (the filmstrip's building block): the first frame has the statistics of the start
noise, the last x0 prediction is the sampler's output, and frames decode through the preview projection."""

from __future__ import annotations

import math

import torch
from sampling_fixtures import TinyModel, text_cond

from diffusion.preview import latent_to_rgb
from diffusion.sampling.ksampler import sample
from diffusion.sampling.observe import TrajectoryRecorder, observing


def test_trajectory_first_frame_is_noise_and_last_is_the_output(model: TinyModel) -> None:
    with observing(TrajectoryRecorder()) as recorder:
        out = sample(model, seed=3, steps=4, cfg=5.0, sampler_name="euler", scheduler="karras",
                     positive=[text_cond(1)], negative=[text_cond(2)],
                     latent={"samples": torch.zeros(1, 4, 16, 16)})["samples"]
    assert [record.step for record in recorder.steps] == [0, 1, 2, 3]
    (start,) = recorder.starts
    sigma_max = recorder.steps[0].sigma
    expected_std = math.sqrt(1 + sigma_max**2) / model.latent_scale_factor  # raw latent space, from pure noise
    assert abs(float(start.mean())) < 0.1 * expected_std
    assert abs(float(start.std()) / expected_std - 1) < 0.1
    assert torch.equal(recorder.steps[0].x, start)  # the first step is evaluated on the start sample
    # euler's last step goes to σ = 0, where the sample is the x0 prediction
    torch.testing.assert_close(recorder.steps[-1].denoised, out, rtol=1e-5, atol=1e-4)
    frame = latent_to_rgb(recorder.steps[-1].denoised * model.latent_scale_factor)
    assert frame.shape == (16, 16, 3) and frame.dtype == torch.uint8


def test_every_kth_step_keeps_the_last(model: TinyModel) -> None:
    with observing(TrajectoryRecorder(every=2)) as recorder:
        sample(model, seed=3, steps=5, cfg=1.0, sampler_name="euler", scheduler="normal",
               positive=[text_cond(1)], negative=[text_cond(2)], latent={"samples": torch.zeros(1, 4, 8, 8)})
    assert [record.step for record in recorder.steps] == [0, 2, 4]
