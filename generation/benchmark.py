"""Sampling speed of the cascade (`glyphbot bench sample`).

A sampler's cost is its number of U-Net evaluations: each denoising step is one forward pass (two
batch rows per image under classifier-free guidance). So the benchmark times guided forward passes
per stage and batch size and prices two recipes from the same measurements: glyphbot's configured
steps (DPM-Solver++) and the original's (250-step ancestral DDPM per stage). The
sampler's own arithmetic is negligible beside the U-Net and is not timed.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import torch

from generation.pipeline import GlyphCascadePipeline
from generation.tokenizer import GlyphTokenizer
from generation.unet import GlyphUNet2DModel

ORIGINAL_STEPS = 250


@dataclass(frozen=True)
class Recipe:
    name: str
    base_steps: int
    sr_steps: int


@dataclass(frozen=True)
class StageTiming:
    stage: str
    batch: int
    ms_per_step: float
    peak_memory_mb: float


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (KiB on Linux)


@torch.no_grad()
def time_guided_step(
    unet: GlyphUNet2DModel, batch: int, device: torch.device, repeats: int, prompt: str, guidance_scale: float = 2.0
) -> StageTiming:
    """Milliseconds of one denoising step for `batch` images at `guidance_scale` (1: one pass, no CFG;
    the product's SR stage runs so; otherwise two rows per image)."""
    pipe = GlyphCascadePipeline(unet, None) if not unet.is_super_resolution else GlyphCascadePipeline(None, None, unet, None)
    tokenizer = GlyphTokenizer(unet.config.max_tokens, unet.config.max_lines)
    cond, uncond = tokenizer([prompt] * batch).to(device), tokenizer([None] * batch).to(device)
    size = unet.config.sample_size
    sample = torch.randn(batch, 3, size, size, device=device, dtype=unet.dtype)
    extra = {}
    if unet.is_super_resolution:
        extra = {
            "low_res": torch.randn(batch, 3, size // 2, size // 2, device=device, dtype=unet.dtype),
            "noise_level": torch.zeros(batch, dtype=torch.long, device=device),
        }
    glyph = torch.rand(batch, unet.config.glyph_channels, size, size, device=device, dtype=unet.dtype) if unet.reads_glyphs else None
    timestep = torch.tensor(500, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    pipe._model_output(unet, sample, timestep, cond, uncond, guidance_scale, extra, glyph)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        pipe._model_output(unet, sample, timestep, cond, uncond, guidance_scale, extra, glyph)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = (time.perf_counter() - started) / repeats
    return StageTiming("sr" if unet.is_super_resolution else "base", batch, elapsed * 1000, _peak_memory_mb(device))


def recipe_ms_per_image(timings: dict[tuple[str, int], StageTiming], recipe: Recipe, batch: int) -> float:
    """Whole-cascade milliseconds per image at `batch` for a recipe, from per-step timings."""
    total = timings[("base", batch)].ms_per_step * recipe.base_steps
    if ("sr", batch) in timings:
        total += timings[("sr", batch)].ms_per_step * recipe.sr_steps
    return total / batch
