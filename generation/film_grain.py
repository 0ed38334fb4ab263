"""Film-grain synthesis: the per-pixel grain of a style's examples, measured once and added to each
final picture, as AV1 does for grain that a codec cannot keep.

Why: the models predict the clean picture (x0). Independent noise from pixel to pixel, like chalk
dust or film grain, is what such a model averages away, so LoRA adapters on both stages bring a
style's colours and soft mottling but not its grain (README, "Styles"). The grain is therefore
*synthesised*, not drawn: a style records it, and the renderer adds matching noise to the SR stage's
output, before OCR reads the candidates (so a grain that hides letters loses the ranking).

The model of grain (a simplified form of AV1's):
- grain is the luminance's high-pass residual, r = L - G_1(L), with L = 0.299 R + 0.587 G + 0.114 B
  on 0..255 and G_s a Gaussian blur of s px;
- its spread depends on brightness: std(r) in GRAIN_LEVELS bins of the local luminance G_1(L) (chalk
  letters are grainier than the board under them); pixels within EDGE_BAND px of a letter's edge are
  left out, where r measures the letters' outline and not grain;
- its size is the blur s of white noise whose residual has the examples' lag-1 autocorrelation.

Synthesis draws white noise from the candidate's seed, blurs it by s, takes the same high-pass,
scales it to unit spread and then, pixel by pixel, to the spread at that pixel's local luminance,
times the strength, and adds it to all three channels (grain is luminance noise). On the letters (the
glyph map the candidate was drawn from) it adds only LETTER_GRAIN_SHARE of that, because grain on
letters is what OCR, and a reader, stumble on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from generation.colour import LUMA_WEIGHTS

GRAIN_LEVELS = 8  # luminance bins over 0..255
HIGH_PASS_SIGMA = 1.0  # px: grain is what a 1 px blur removes
EDGE_BAND = 3  # px around a letter's edge where the residual is the outline, not grain
MIN_PIXELS_PER_LEVEL = 64  # fewer pixels than this say nothing about a level: it takes its neighbours' spread
GRAIN_SIZES = (0.0, 0.3, 0.5, 0.7, 1.0, 1.5)  # px: the blurs of white noise a grain's size is chosen among
LETTER_GRAIN_SHARE = 0.0  # of the grain on the letters themselves, where it costs OCR most
_SEED_OFFSET = 7_919  # grain noise is not the SR stage's own noise, even with the same seed


@dataclass(frozen=True)
class FilmGrain:
    """A style's grain: its spread (std on 0..255) at each of GRAIN_LEVELS luminance levels, and its
    size (the blur in px of the white noise it is drawn from)."""

    spread: tuple[float, ...]
    size: float

    def __post_init__(self) -> None:
        if len(self.spread) != GRAIN_LEVELS or any(not 0 <= value < 256 for value in self.spread) or not 0 <= self.size <= max(GRAIN_SIZES):
            raise ValueError(f"a film grain has {GRAIN_LEVELS} spreads in 0..255 and a size of 0..{max(GRAIN_SIZES)} px")

    def to_tensor(self) -> torch.Tensor:
        """One float tensor for a style file: the spreads, then the size."""
        return torch.tensor([*self.spread, self.size], dtype=torch.float64)  # float64: the values read back exactly

    @classmethod
    def from_tensor(cls, tensor: torch.Tensor) -> "FilmGrain":
        """Read `to_tensor`'s layout back; ValueError for any other shape or out-of-range value."""
        if tensor.shape != (GRAIN_LEVELS + 1,):
            raise ValueError(f"a film grain tensor has {GRAIN_LEVELS + 1} values, got shape {tuple(tensor.shape)}")
        values = [float(value) for value in tensor]
        return cls(tuple(values[:GRAIN_LEVELS]), values[GRAIN_LEVELS])


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur (n, c, h, w) by a Gaussian of `sigma` px, separably, reflecting at the borders."""
    if sigma <= 0:
        return images
    radius = max(1, int(round(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    across = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(across, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def _luminance(pictures: torch.Tensor) -> torch.Tensor:
    """(n, 3, h, w) in [-1, 1] -> (n, 1, h, w) luminance on 0..255."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=pictures.dtype, device=pictures.device).view(1, 3, 1, 1)
    return ((pictures.clamp(-1, 1) + 1) * 127.5 * weights).sum(dim=1, keepdim=True)


def _residual(luminance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The high-pass residual and the local luminance it is binned by."""
    local = gaussian_blur(luminance, HIGH_PASS_SIGMA)
    return luminance - local, local


def _levels(local: torch.Tensor) -> torch.Tensor:
    return (local / 256 * GRAIN_LEVELS).long().clamp(0, GRAIN_LEVELS - 1)


def _lag_one_correlation(residual: torch.Tensor, keep: torch.Tensor) -> float:
    """Mean of the horizontal and vertical lag-1 autocorrelations of `residual` where `keep` holds."""
    correlations = []
    for shifted, base, mask in (
        (residual[..., :, 1:], residual[..., :, :-1], keep[..., :, 1:] & keep[..., :, :-1]),
        (residual[..., 1:, :], residual[..., :-1, :], keep[..., 1:, :] & keep[..., :-1, :]),
    ):
        a, b = shifted[mask], base[mask]
        if a.numel() < 2:
            continue
        a, b = a - a.mean(), b - b.mean()
        correlations.append(float((a * b).mean() / (a.std(unbiased=False) * b.std(unbiased=False)).clamp_min(1e-6)))
    return sum(correlations) / len(correlations) if correlations else 0.0


def _size_for(correlation: float) -> float:
    """The grain size whose synthesised residual has the lag-1 correlation nearest `correlation`."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 1, 128, 128, generator=generator)
    everywhere = torch.ones_like(noise, dtype=torch.bool)
    return min(GRAIN_SIZES, key=lambda size: abs(_lag_one_correlation(_residual(gaussian_blur(noise, size))[0], everywhere) - correlation))


def measure_grain(pictures: torch.Tensor, letters: torch.Tensor) -> FilmGrain:
    """The grain of `pictures` (n, 3, s, s) in [-1, 1], whose estimated letters are `letters`
    (n, 1, s, s) in [0, 1] (generation.styles.example_tensors)."""
    residual, local = _residual(_luminance(pictures.float()))
    ink = (letters.float() > 0.5).float()
    window = 2 * EDGE_BAND + 1
    near_ink = F.max_pool2d(ink, window, stride=1, padding=EDGE_BAND)
    inside_ink = -F.max_pool2d(-ink, window, stride=1, padding=EDGE_BAND)
    keep = (near_ink == inside_ink).to(torch.bool)  # wholly letter or wholly ground across the band
    levels = _levels(local)
    spreads: list[float | None] = []
    for level in range(GRAIN_LEVELS):
        values = residual[keep & (levels == level)]
        spreads.append(float(values.std(unbiased=False)) if values.numel() >= MIN_PIXELS_PER_LEVEL else None)
    known = [index for index, value in enumerate(spreads) if value is not None]
    if not known:
        return FilmGrain((0.0,) * GRAIN_LEVELS, 0.0)
    filled = tuple(float(spreads[min(known, key=lambda k: abs(k - level))]) for level in range(GRAIN_LEVELS))
    return FilmGrain(filled, _size_for(_lag_one_correlation(residual, keep)))


def add_grain(
    images: torch.Tensor, grain: FilmGrain, seeds: Sequence[int], strength: float = 1.0, letters: torch.Tensor | None = None,
) -> torch.Tensor:
    """`images` (n, 3, s, s) in [-1, 1] with grain drawn from each candidate's seed, at `strength`
    times the measured spread; the same seed always adds the same grain. Where `letters` (n, 1, s, s)
    in [0, 1], the glyph maps the pictures were drawn from, has ink, the grain is LETTER_GRAIN_SHARE
    of that: grain on pale letters cost OCR 4 transcripts in 40 (README, "Styles")."""
    if len(seeds) != images.shape[0]:
        raise ValueError(f"give one seed per picture: {len(seeds)} seeds for {images.shape[0]} pictures")
    if strength <= 0 or not any(grain.spread):
        return images
    shape = (1, 1, *images.shape[2:])
    noise = torch.cat([torch.randn(shape, generator=torch.Generator().manual_seed(seed + _SEED_OFFSET)) for seed in seeds])
    pattern, _ = _residual(gaussian_blur(noise, grain.size))
    pattern = pattern / pattern.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    spread = torch.tensor(grain.spread, dtype=torch.float32)
    _, local = _residual(_luminance(images.detach().float().cpu()))
    amount = spread[_levels(local)] * strength  # 0..255 units
    if letters is not None:
        ink = F.max_pool2d(letters.float().cpu(), 3, stride=1, padding=1)  # the letters and their edge pixels
        amount = amount * (1 - (1 - LETTER_GRAIN_SHARE) * ink)
    grained = images.float().cpu() + (pattern * amount / 127.5)
    return grained.clamp(-1, 1).to(images.device, images.dtype)
