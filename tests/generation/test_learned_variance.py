"""Learned variances: the bound term is right where it has a closed form, training and sampling use it."""

import json

import pytest
import torch
from diffusers import DDPMScheduler

from generation.data.text_sampler import TextSamplerConfig
from generation.pipeline import GlyphCascadePipeline
from generation.schedulers import training_scheduler
from generation.train import Trainer, TrainingConfig
from generation.unet import GlyphUNet2DModel
from generation.variance import split_learned_variance, variational_bound_bits

from .tiny_models import tiny_config, wake


def _noisy_batch(scheduler, timesteps):
    clean = torch.rand(len(timesteps), 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noisy = scheduler.add_noise(clean, torch.randn(clean.shape, generator=torch.Generator().manual_seed(1)), timesteps)
    return clean, noisy


def test_the_bound_vanishes_for_the_true_posterior_and_grows_away_from_it():
    scheduler = training_scheduler(learned_variance=True)
    timesteps = torch.tensor([1, 10, 500, 999])
    clean, noisy = _noisy_batch(scheduler, timesteps)
    at_posterior = torch.full_like(clean, -1.0)  # v = -1 selects the true posterior variance
    exact = variational_bound_bits(scheduler, clean, noisy, timesteps, clean, at_posterior)
    assert torch.allclose(exact, torch.zeros(4), atol=1e-5), exact
    wrong_mean = variational_bound_bits(scheduler, clean, noisy, timesteps, clean.flip(0), at_posterior)
    wrong_variance = variational_bound_bits(scheduler, clean, noisy, timesteps, clean, torch.ones_like(clean))
    assert (wrong_mean[:3] > 0).all() and (wrong_variance[:3] > 0).all()


def test_the_decoder_term_rewards_the_right_pixels():
    scheduler = training_scheduler(learned_variance=True)
    timesteps = torch.zeros(2, dtype=torch.long)
    clean, noisy = _noisy_batch(scheduler, timesteps)
    right = variational_bound_bits(scheduler, clean, noisy, timesteps, clean, -torch.ones_like(clean))
    wrong = variational_bound_bits(scheduler, clean, noisy, timesteps, -clean, -torch.ones_like(clean))
    assert (right < 1.0).all() and (wrong > right).all()


def test_an_output_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="expected 3 or 6"):
        split_learned_variance(torch.zeros(1, 5, 4, 4), 3)


def test_training_with_learned_variance_exports_a_model_the_samplers_use(tmp_path):
    config = TrainingConfig(
        stage="base", model=tiny_config("tiny-base"), output_dir=str(tmp_path / "run"), steps=3, batch_size=2,
        warmup_steps=1, save_every=100, sample_every=100, learned_variance=True,
        text=TextSamplerConfig(max_lines=1, max_chars=6, max_line_chars=6),
    )
    result = Trainer(config, log=lambda _: None).train(progress=False)
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert json.loads((result.model_dir / "config.json").read_text())["out_channels"] == 6
    scheduler = DDPMScheduler.from_pretrained(result.model_dir)
    assert scheduler.config.variance_type == "learned_range"

    model = wake(GlyphUNet2DModel.from_pretrained(result.model_dir, torch_dtype=torch.float32), 3)
    pipe = GlyphCascadePipeline(model, scheduler)
    pipe.set_progress_bar_config(disable=True)
    for sampler in ("ddpm", "ddim", "dpmsolver"):
        images = pipe.generate_base(["ab"], seeds=[0], num_inference_steps=3, guidance_scale=2.0, scheduler=sampler)
        assert images.shape == (1, 3, 16, 16) and torch.isfinite(images).all(), sampler


def test_continuing_a_model_needs_the_matching_variance_setting(tmp_path):
    plain = tmp_path / "plain"
    GlyphUNet2DModel(**tiny_config("tiny-base")).save_pretrained(plain)
    config = TrainingConfig(
        stage="base", model={}, output_dir=str(tmp_path / "run"), steps=1, batch_size=1, init_from=str(plain),
        learned_variance=True,
    )
    with pytest.raises(ValueError, match="does not predict variances"):
        Trainer(config, log=lambda _: None)
