"""Learned variance (improved-diffusion's `learned_range`): the optional variational-bound loss term.

A model with twice the image channels out predicts, besides its noise (or velocity), a number v per
pixel that places the reverse step's log-variance between the two closed-form extremes:
log Σ = ((v+1)/2)·log β_t + (1−(v+1)/2)·log β̃_t. Diffusers' DDPM sampler reads the same
parametrisation (`variance_type="learned_range"`), so ancestral sampling with fewer steps than the
1000 trained uses the learned variances. Only the variance is trained by the bound: the mean is taken
with its gradient stopped, so the simple MSE stays the sole teacher of the mean (the "hybrid" loss).
"""

from __future__ import annotations

import math

import torch
from diffusers import DDPMScheduler


def split_learned_variance(output: torch.Tensor, image_channels: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(prediction, variance values or None) from a model output of 1x or 2x the image channels."""
    if output.shape[1] == image_channels:
        return output, None
    if output.shape[1] != 2 * image_channels:
        raise ValueError(f"model output has {output.shape[1]} channels; expected {image_channels} or {2 * image_channels}")
    prediction, variance = output.split(image_channels, dim=1)
    return prediction, variance


def _per_sample(values: torch.Tensor, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.device, torch.float32)[timesteps].view(-1, *([1] * (like.dim() - 1)))


def _normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    # The tanh approximation keeps the decoder term smooth and cheap; its error is far below a pixel bin.
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _discretized_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Log-likelihood of 8-bit pixels in [-1, 1] (bins of width 2/255) under a Gaussian decoder."""
    centred = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = _standard_normal_cdf(inv_std * (centred + 1.0 / 255.0))
    cdf_min = _standard_normal_cdf(inv_std * (centred - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_bin = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_bin))


def variational_bound_bits(
    scheduler: DDPMScheduler,
    clean: torch.Tensor,
    noisy: torch.Tensor,
    timesteps: torch.Tensor,
    predicted_clean: torch.Tensor,
    variance_values: torch.Tensor,
) -> torch.Tensor:
    """The bound's term L_t per sample, in bits per dimension.

    `predicted_clean` must already be detached (the mean is not trained here). For t > 0 it is the KL
    from the true posterior q(x_{t-1} | x_t, x_0) to the model's step; for t = 0 the decoder's
    negative log-likelihood of the 8-bit image.
    """
    alphas_cumprod = scheduler.alphas_cumprod.to(torch.float64)
    previous = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
    betas = 1.0 - alphas_cumprod / previous
    posterior_variance = betas * (1.0 - previous) / (1.0 - alphas_cumprod)
    # At t = 0 the posterior variance is 0; improved-diffusion clips its log to the next step's value.
    posterior_log_variance = torch.log(torch.cat([posterior_variance[1:2], posterior_variance[1:]]))
    mean_coef_clean = betas * previous.sqrt() / (1.0 - alphas_cumprod)
    mean_coef_noisy = (1.0 - previous) * (1.0 - betas).sqrt() / (1.0 - alphas_cumprod)

    def at(values: torch.Tensor) -> torch.Tensor:
        return _per_sample(values, timesteps, clean)

    clean, noisy = clean.float(), noisy.float()
    true_mean = at(mean_coef_clean) * clean + at(mean_coef_noisy) * noisy
    model_mean = at(mean_coef_clean) * predicted_clean.float() + at(mean_coef_noisy) * noisy
    fraction = (variance_values.float() + 1.0) / 2.0
    model_log_variance = fraction * at(torch.log(betas)) + (1.0 - fraction) * at(posterior_log_variance)

    kl = _normal_kl(true_mean, at(posterior_log_variance), model_mean, model_log_variance).mean(dim=(1, 2, 3))
    decoder_nll = -_discretized_log_likelihood(clean, model_mean, 0.5 * model_log_variance).mean(dim=(1, 2, 3))
    return torch.where(timesteps == 0, decoder_nll, kl) / math.log(2.0)
