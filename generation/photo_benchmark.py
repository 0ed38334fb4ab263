"""`glyphbot bench photo`: text written into boxes of a photo, pasted back hard or faded in.

For each box the cascade draws the text into the box once (generation.photo, 1 candidate), then the
same drawing is pasted back two ways: a hard paste of the box, and the product's fade-in over the
box's outer share. The seam is the mean step (0..255) between the pixels just inside and just
outside the box's edge; the photo's own step at the same places is the baseline noise. OCR reads
the box of the faded composite.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Sequence

import numpy as np
from PIL import Image
from rich.table import Table

from generation.guidance import KeepRegion
from generation.photo import box_layout, plan_photo
from generation.pipeline import GlyphCascadePipeline, sr_seeds, tensor_to_pil
from generation.types import Box
from ocr.scoring import score_text


@dataclass(frozen=True)
class PhotoRow:
    box: Box
    photo_step: float
    hard_seam: float
    faded_seam: float
    reading: str
    exact: bool


def edge_step(image: Image.Image, box: Box) -> float:
    """Mean absolute difference between the pixels just inside and just outside the box's edge."""
    a = np.asarray(image.convert("RGB"), np.float32)
    x, y, w, h = box
    inner = np.concatenate([a[y, x : x + w], a[y + h - 1, x : x + w], a[y : y + h, x], a[y : y + h, x + w - 1]])
    outer = np.concatenate([a[y - 1, x : x + w], a[y + h, x : x + w], a[y : y + h, x - 1], a[y : y + h, x + w]])
    return float(np.abs(inner - outer).mean())


def run_photo_bench(pipeline: GlyphCascadePipeline, reader, photo: Image.Image, boxes: Sequence[Box], text: str, seed: int,  # noqa: ANN001
                    steps: int = 20, sr_steps: int = 10) -> list[PhotoRow]:
    """One row per box (each must leave a pixel of photo on every side, to measure the seam)."""
    rows = []
    for box in boxes:
        plan = plan_photo(photo, box)
        layouts = [box_layout(plan, text, seed)]
        base = pipeline.generate_base([text], seeds=[seed], num_inference_steps=steps, layouts=layouts,
                                      clean_edits=[KeepRegion(*plan.known(pipeline.base_unet.config.sample_size))])
        drawn = base
        if pipeline.sr_unet is not None:
            drawn = pipeline.upscale([text], base, seeds=sr_seeds([seed]), num_inference_steps=sr_steps, layouts=layouts,
                                     clean_edits=[KeepRegion(*plan.known(pipeline.sr_unet.config.sample_size))])
        picture = tensor_to_pil(drawn)[0]
        faded = plan.composite(picture)
        hard = plan.composite(picture, feather=0)
        reading = reader.read(plan.box_region(faded)).text
        rows.append(PhotoRow(box, edge_step(photo, box), edge_step(hard, box), edge_step(faded, box), reading,
                             bool(score_text(text, reading).exact)))
    return rows


def photo_table(rows: Sequence[PhotoRow], text: str) -> Table:
    table = Table(title=f"{text!r} written into {len(rows)} boxes; seam = mean step across the box's edge (0..255)")
    for column in ("box", "photo's own step", "hard paste", "faded in", "OCR in the box"):
        table.add_column(column, justify="left" if column in ("box", "OCR in the box") else "right")
    for row in rows:
        table.add_row(",".join(map(str, row.box)), f"{row.photo_step:.1f}", f"{row.hard_seam:.1f}", f"{row.faded_seam:.1f}",
                      repr(row.reading) + ("" if row.exact else " (not exact)"))
    table.add_row("mean", f"{fmean(r.photo_step for r in rows):.1f}", f"{fmean(r.hard_seam for r in rows):.1f}",
                  f"{fmean(r.faded_seam for r in rows):.1f}", f"{sum(r.exact for r in rows)}/{len(rows)} exact")
    return table
