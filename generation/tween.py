"""Prompt tweening: frames that morph one text into another with the noise held fixed (the prompt
blending of a Stable Diffusion web UI extension's experiments).

Every frame samples from the same noise (one seed for all frames), and frame i of n mixes the two
texts at weight w = i / (n - 1): the text encodings are blended in the U-Nets (text_encoder.TextBlend)
and the glyph maps are cross-faded. Both layouts share one font and alignment where the font can
draw both texts, so the letters stay in one typeface while they change.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from generation.layout import GlyphLayout, LayoutError, uncovered_characters
from generation.templates import candidate_layouts
from generation.pipeline import GlyphCascadePipeline, sr_seeds, tensor_to_pil
from generation.request_parsers import normalize_prompt
from generation.types import MAX_TWEEN_FRAMES, MIN_TWEEN_FRAMES

FRAME_MS = 120


class TweenError(ValueError):
    """A tween that cannot be made as asked (equal ends, frame count, size limit), and why."""


@dataclass(frozen=True)
class LayoutBlend:
    """Two layouts cross-faded: the glyph map of a tween frame (a generation.layout.Layout)."""

    first: GlyphLayout
    second: GlyphLayout
    weight: float

    def glyph_map(self, size: int) -> np.ndarray:
        return (1 - self.weight) * self.first.glyph_map(size) + self.weight * self.second.glyph_map(size)

    def region_map(self, size: int) -> np.ndarray:
        """Tweens morph plain cards, which have no regions."""
        return np.zeros((size, size), np.float32)


def check_tween(start: str, end: str, frames: int) -> None:
    """Refuse identical ends and frame counts outside the limits, before any work."""
    if normalize_prompt(start) == normalize_prompt(end):
        raise TweenError(f"the tween's two ends are the same text ({start!r}); give two different texts")
    if not isinstance(frames, int) or not MIN_TWEEN_FRAMES <= frames <= MAX_TWEEN_FRAMES:
        raise TweenError(f"frames must be a whole number from {MIN_TWEEN_FRAMES} to {MAX_TWEEN_FRAMES}, got {frames!r}")


def tween_layouts(start: str, end: str, seed: int, frames: int, font: str | None = None, align: str | None = None) -> list[LayoutBlend]:
    """One cross-faded layout per frame; the end's layout keeps the start's font and alignment when it can."""
    first = candidate_layouts([start], [seed], "glyph", font, align, "card")[0]
    second = None
    if font is None and not uncovered_characters(normalize_prompt(end), first.font):
        try:
            second = candidate_layouts([end], [seed], "glyph", first.font_name, align or first.align, "card")[0]
        except LayoutError:
            second = None  # the end is legible only in another font: let the seed pick one, as for the start
    if second is None:
        second = candidate_layouts([end], [seed], "glyph", font, align or first.align, "card")[0]
    return [LayoutBlend(first, second, index / (frames - 1)) for index in range(frames)]


def tween_frames(
    pipeline: GlyphCascadePipeline,
    start: str,
    end: str,
    frames: int = 12,
    seed: int = 0,
    guidance_scale: float = 2.0,
    sr_guidance_scale: float = 1.0,
    num_inference_steps: int = 20,
    sr_num_inference_steps: int = 10,
    scheduler: str = "dpmsolver",
    font: str | None = None,
    align: str | None = None,
    callback_on_step_end=None,  # noqa: ANN001  generation.pipeline.StepCallback
) -> list[Image.Image]:
    """The frames from `start` to `end`, both included, at the cascade's final size."""
    check_tween(start, end, frames)
    layouts = tween_layouts(start, end, seed, frames, font, align)
    weights = [blend.weight for blend in layouts]
    starts, ends = [start] * frames, [end] * frames
    base = pipeline.generate_base(
        starts, seeds=[seed] * frames, guidance_scale=guidance_scale, num_inference_steps=num_inference_steps,
        scheduler=scheduler, callback_on_step_end=callback_on_step_end, layouts=layouts, blend_prompts=ends, blend_weights=weights,
    )
    if pipeline.sr_unet is None:
        return tensor_to_pil(base)
    final = pipeline.upscale(
        starts, base, seeds=sr_seeds([seed] * frames), guidance_scale=sr_guidance_scale,
        num_inference_steps=sr_num_inference_steps, scheduler=scheduler, callback_on_step_end=callback_on_step_end, layouts=layouts, blend_prompts=ends, blend_weights=weights,
    )
    return tensor_to_pil(final)


def animated_gif(frames: Sequence[Image.Image], max_bytes: int, frame_ms: int = FRAME_MS) -> bytes:
    """An endlessly looping GIF of the frames, holding each end a little longer; TweenError when it
    comes out larger than `max_bytes` (say how many frames would fit)."""
    durations = [frame_ms * 4 if index in (0, len(frames) - 1) else frame_ms for index in range(len(frames))]
    buffer = io.BytesIO()
    first, *rest = [frame.convert("RGB") for frame in frames]
    first.save(buffer, format="GIF", save_all=True, append_images=rest, duration=durations, loop=0, optimize=True)
    data = buffer.getvalue()
    if len(data) > max_bytes:
        fitting = max(MIN_TWEEN_FRAMES, int(len(frames) * max_bytes / len(data)))
        raise TweenError(
            f"the animation is {_size(len(data))}, over the {_size(max_bytes)} limit "
            f"(generation.max_gif_bytes); ask for {fitting} frames or fewer"
        )
    return data


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1_000_000 else f"{count / 1e3:.0f} kB"
