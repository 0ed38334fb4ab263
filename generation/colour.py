"""Colour statistics of pictures of text: which pixels are letters, what colours the letters and the
background have, and how far two pictures' colours are apart.

Used three ways: a reference picture's look steers sampling (generation.guidance), a style's example
pictures get an estimated glyph map to learn from (generation.styles), and the benchmarks measure
how close outputs come to a reference. Everything works on float tensors in [-1, 1], (3, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

# ITU-R BT.601 luma weights of R, G and B: the one definition of "brightness" for every module that
# measures it (grain, flatness, the painter's contrast, a photo's ground).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Pixels sampled per picture when fitting two colours; plenty for a 2-means fit, cheap at any size.
_FIT_PIXELS = 4096


@dataclass(frozen=True)
class Palette:
    """The look of a picture of text: the letters' and the background's per-channel mean and
    standard deviation, each (3,) in [-1, 1] units."""

    text_mean: torch.Tensor
    text_std: torch.Tensor
    background_mean: torch.Tensor
    background_std: torch.Tensor

    @classmethod
    def average(cls, palettes: "list[Palette]") -> "Palette":
        """The mean look of several pictures (a style's examples)."""
        fields = ("text_mean", "text_std", "background_mean", "background_std")
        return cls(*(torch.stack([getattr(p, name) for p in palettes]).mean(dim=0) for name in fields))


@dataclass(frozen=True)
class TwoColourSplit:
    """A picture seen as letters on a background: the mask of the minority colour cluster (the
    letters, (H, W) in {0, 1}) and the palette of both parts."""

    text_mask: torch.Tensor
    palette: Palette


def centre_square(image: Image.Image) -> Image.Image:
    """The centred square crop of a picture, in RGB: colour statistics need no exact framing, and the
    models draw squares."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.convert("RGB").crop((left, top, left + side, top + side))


def split_two_colours(image: torch.Tensor, iterations: int = 12) -> TwoColourSplit:
    """Fit two colours to `image` (3, H, W) by 2-means and call the rarer one the text.

    Text covers a minority of a picture of text in every layout glyphbot draws (and in nearly every
    sign or poster), so the smaller cluster is the letters. A picture of one flat colour yields an
    empty text mask and the background's statistics for both parts."""
    pixels = image.reshape(3, -1).T.float()
    step = max(1, pixels.shape[0] // _FIT_PIXELS)
    sample = pixels[::step]
    brightness = sample.mean(dim=1)
    centres = torch.stack([sample[brightness.argmin()], sample[brightness.argmax()]])
    for _ in range(iterations):
        nearest = torch.cdist(sample, centres).argmin(dim=1)
        for cluster in range(2):
            members = sample[nearest == cluster]
            if len(members):
                centres[cluster] = members.mean(dim=0)
    labels = torch.cdist(pixels, centres).argmin(dim=1)
    text_cluster = int((labels == 1).sum() < (labels == 0).sum())
    mask = (labels == text_cluster).reshape(image.shape[1:]).float()
    if torch.allclose(centres[0], centres[1], atol=1e-3):
        mask = torch.zeros_like(mask)
    text_mean, text_std = _masked_stats(image, mask)
    background_mean, background_std = _masked_stats(image, 1 - mask)
    if mask.sum() == 0:
        text_mean, text_std = background_mean, background_std
    return TwoColourSplit(mask, Palette(text_mean, text_std, background_mean, background_std))


def _masked_stats(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of `image` (..., 3, H, W) where `mask` (..., H, W) is 1."""
    weights = mask.unsqueeze(-3).float()
    total = weights.sum(dim=(-2, -1)).clamp_min(1.0)
    mean = (image.float() * weights).sum(dim=(-2, -1)) / total
    variance = (((image.float() - mean[..., None, None]) ** 2) * weights).sum(dim=(-2, -1)) / total
    return mean, variance.clamp_min(0).sqrt()


def transfer_colours(image: torch.Tensor, text_mask: torch.Tensor, target: Palette) -> torch.Tensor:
    """Give the letters (`text_mask`, (B, H, W) in [0, 1]) and the background of `image` (B, 3, H, W)
    the target's per-channel means and spreads: the look of the target, the shapes of the image."""
    result = image.float().clone()
    for part, mean, std in ((text_mask, target.text_mean, target.text_std), (1 - text_mask, target.background_mean, target.background_std)):
        own_mean, own_std = _masked_stats(image, part)
        moved = (image.float() - own_mean[..., None, None]) / own_std.clamp_min(0.02)[..., None, None]
        moved = moved * std.to(image.device)[:, None, None] + mean.to(image.device)[:, None, None]
        result = result + part.unsqueeze(1) * (moved - image.float())
    return result.clamp(-1, 1).to(image.dtype)


def colour_distance(first: torch.Tensor, second: torch.Tensor) -> float:
    """How far apart two pictures' colours are, whatever their layout: the 1-D Wasserstein distance
    between their per-channel value distributions, averaged over R, G and B, in 0..255 units."""
    distances = []
    for channel in range(3):
        quantiles = torch.linspace(0, 1, 256)
        a = torch.quantile(first[channel].flatten().float(), quantiles)
        b = torch.quantile(second[channel].flatten().float(), quantiles)
        distances.append(float((a - b).abs().mean()) * 127.5)
    return sum(distances) / 3
