"""`glyphbot bench look`: how far a style or a reference picture moves the colours of new pictures,
and what it costs in text accuracy, against the same prompts and seeds without it.

Each variant is a request template (a learned style, a reference picture steering the colours, or
a plain img2img start from the reference); every variant renders the same transcripts with the same
seeds, so the rows differ only in the variant. Colour distance: generation.colour.colour_distance
(the per-channel Wasserstein distance, 0..255) from each output to each target picture, averaged.
Texture: the mean luminance gradient of the whole picture (ocr.flatness, 0..~360), beside the
targets' own at the same size, so a style that brings its examples' grain shows it in a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from statistics import fmean
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw
from rich.table import Table

from generation.colour import centre_square, colour_distance
from generation.pipeline import pil_to_tensor
from generation.styles import StyleTokens
from generation.types import RenderRequest, Renderer
from ocr.benchmark import Sample, TextAccuracyReport, run_text_accuracy
from ocr.flatness import structure_outside_text

_COLOURS = ((220, 40, 40), (40, 170, 40), (50, 80, 230))


@dataclass(frozen=True)
class LookVariant:
    label: str
    request: RenderRequest


def style_variants(name: str, tokens: bytes, plain: RenderRequest, levels: Sequence[float]) -> list[LookVariant]:
    """The rows of one learned style, by its method. Vectors: the vectors alone (a strength too small
    for the palette to steer or the grain to show), then with palette steering at each level. LoRA: the
    adapters alone (the file without palette and grain), with the grain, and with palette steering too,
    at each level."""
    style = StyleTokens.from_bytes(tokens)
    styled = replace(plain, style=name, style_tokens=tokens)
    if style.method == "vectors":
        return [LookVariant(f"{name}: vectors only", replace(styled, style_strength=1e-6))] + [
            LookVariant(f"{name}: vectors + palette @ {level:g}", replace(styled, style_strength=level)) for level in levels
        ]
    bare = replace(styled, style_tokens=style.without_palette().to_bytes())
    rows = [LookVariant(f"{name}: LoRA, no palette @ {level:g}", replace(bare, style_strength=level)) for level in levels]
    if style.grain is not None:  # what the models draw alone, before the grain is added
        ungrained = replace(styled, style_tokens=style.without_palette().without_grain().to_bytes())
        rows = [LookVariant(f"{name}: LoRA, no palette, no grain @ {level:g}", replace(ungrained, style_strength=level)) for level in levels] + rows
    return rows + [LookVariant(f"{name}: LoRA + palette @ {level:g}", replace(styled, style_strength=level)) for level in levels]


def texture(image: Image.Image, size: int) -> float:
    """The mean luminance gradient of `image` as a `size` px square (ocr.flatness's figure, no text masked)."""
    square = centre_square(image.convert("RGB"))
    return structure_outside_text(square if square.width == size else square.resize((size, size), Image.Resampling.BILINEAR))


@dataclass(frozen=True)
class LookRow:
    label: str
    colour_distance: float
    texture: float
    exact: float
    cer: float
    ms_per_prompt: float
    samples: tuple[Sample, ...]


def _distance_to_targets(image: Image.Image, targets: Sequence[Image.Image]) -> float:
    size = image.width
    tensor = pil_to_tensor([image.convert("RGB")], size)[0]
    return fmean(colour_distance(tensor, pil_to_tensor([centre_square(t)], size)[0]) for t in targets)


def run_look_bench(
    transcripts: Sequence[str],
    renderer: Renderer,
    variants: Sequence[LookVariant],
    targets: Sequence[Image.Image],
    on_sample: Callable[[Sample], None] | None = None,
) -> list[LookRow]:
    """One row per variant, rendered with one candidate per transcript (no reranking hides the cost)."""
    rows = []
    for index, variant in enumerate(variants):
        report: TextAccuracyReport = run_text_accuracy(transcripts, renderer, variant.request, (1,), on_sample, warm_up=index == 0)
        summary = report.summaries[0]
        distance = fmean(_distance_to_targets(sample.image, targets) for sample in report.samples)
        grain = fmean(texture(sample.image, sample.image.width) for sample in report.samples)
        rows.append(LookRow(variant.label, distance, grain, summary.exact, summary.cer, summary.ms_per_prompt, report.samples))
    return rows


def look_table(rows: Sequence[LookRow], title: str) -> Table:
    table = Table(title=title)
    for column in ("variant", "colour distance", "texture", "exact", "CER", "ms/prompt"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in rows:
        table.add_row(row.label, f"{row.colour_distance:.1f}", f"{row.texture:.1f}", f"{row.exact:.1%}", f"{row.cer:.1%}",
                      f"{row.ms_per_prompt:.0f}")
    return table


def _histogram_panel(images: Sequence[Image.Image], targets: Sequence[Image.Image], width: int, height: int) -> Image.Image:
    """R, G and B histograms of `images` (solid) over the targets' (thin), on one panel."""
    panel = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(panel)

    def histogram(pictures: Sequence[Image.Image], channel: int) -> np.ndarray:
        values = np.concatenate([np.asarray(p.convert("RGB"))[..., channel].ravel() for p in pictures])
        counts, _ = np.histogram(values, bins=64, range=(0, 256))
        return counts / max(counts.sum(), 1)

    peak = max(max(histogram(group, c).max() for c in range(3)) for group in (images, targets)) or 1.0
    for channel, colour in enumerate(_COLOURS):
        for group, line in ((targets, 1), (images, 3)):
            counts = histogram(group, channel)
            points = [(i * width / 63, height - 4 - (height - 8) * value / peak) for i, value in enumerate(counts)]
            draw.line(points, fill=colour if line == 3 else tuple(c // 2 + 127 for c in colour), width=line)
    return panel


def write_look_figure(rows: Sequence[LookRow], targets: Sequence[Image.Image], path: Path | str, per_row: int = 6, thumb: int = 96) -> Path:
    """One row per variant: its label, its first pictures, and its colour histograms over the targets'.
    The top row shows the targets themselves."""
    label_width, panel_width = 200, 240
    width = label_width + per_row * thumb + panel_width
    sheet = Image.new("RGB", (width, thumb * (len(rows) + 1)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    lines = [("target", list(targets))] + [(row.label, [s.image for s in row.samples]) for row in rows]
    for number, (label, pictures) in enumerate(lines):
        top = number * thumb
        draw.text((6, top + thumb // 2 - 6), label[:30], fill=(0, 0, 0))
        for slot, picture in enumerate(pictures[:per_row]):
            sheet.paste(centre_square(picture).resize((thumb, thumb)), (label_width + slot * thumb, top))
        sheet.paste(_histogram_panel(pictures, targets, panel_width - 8, thumb - 8), (label_width + per_row * thumb + 4, top + 4))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path

