"""How much memory a worker's renderer takes above its idle size for the largest pictures the picture gate
lets into a job (storage.picture_gate: MAX_PICTURE_SIDE square PNGs), on every path that decodes one:
img2img, a reference picture's look, text into a photo's box, and a meme of the user's picture.

The issue it answers: a picture that passes the gate must not cost the worker more than a few hundred MB
(a 12000x12000 PNG once cost 1.65 GB). The baseline is the same renderer's peak on a 64 px picture on each
path, measured in the same run. Peaks are the kernel's own high-water mark (VmHWM), reset before each row;
Linux only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from rich.table import Table

from generation.request_parsers import png_bytes
from generation.types import Renderer, RenderRequest
from storage.picture_gate import MAX_PICTURE_SIDE, check_picture

STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class MemoryRow:
    path: str
    side: int
    peak_mb: float  # above the resident size before the row
    outcome: str


def _status_mb(field: str) -> float:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise OSError(f"{STATUS} has no {field}: this benchmark needs Linux")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the resident size


def gradient_png(side: int) -> bytes:
    """An RGBA PNG of `side`² pixels that compresses well (so it passes the gate's byte limit) and
    decodes to the full `side`² × 4 bytes: decoded size, not file size, is what costs memory."""
    y, x = np.mgrid[0:side, 0:side]
    pixels = np.stack([x * 255 // side, y * 255 // side, (x + y) * 127 // side, np.full_like(x, 255)], -1).astype(np.uint8)
    data = png_bytes(Image.fromarray(pixels, "RGBA"))
    check_picture(data, f"the {side} px test picture", formats=("png",))
    return data


def _requests(picture: bytes, side: int) -> dict[str, RenderRequest]:
    base = RenderRequest("SALE", seed=1, candidates=1, num_inference_steps=1, sr_num_inference_steps=1)
    box = (side // 4, side // 4, max(32, side // 3), max(16, side // 8))
    return {
        "img2img": replace(base, init_image_png=picture, strength=0.5),
        "reference picture": replace(base, style_image_png=picture),
        "text into a photo's box": replace(base, init_image_png=picture, box=box),
        "meme of the picture": replace(base, init_image_png=picture, template="meme", prompt="TOP\nBOTTOM"),
    }


def run_memory_bench(renderer: Renderer, side: int = MAX_PICTURE_SIDE, baseline_side: int = 64) -> list[MemoryRow]:
    """Rows for a `baseline_side` picture, then a `side` one, on each path; one warm-up render per path first,
    so that caches and lazily built state count in the idle size, not in a row."""
    rows = []
    for size in (baseline_side, side):
        for name, request in _requests(gradient_png(size), size).items():
            if size == baseline_side:
                renderer.render(request)  # warm-up
            _reset_peak()
            before = _status_mb("VmRSS")
            try:
                renderer.render(request)
                outcome = "drawn"
            except ValueError as error:  # a refusal is an outcome too: say which
                outcome = f"refused: {error}"
            rows.append(MemoryRow(name, size, _status_mb("VmHWM") - before, outcome))
    return rows


def memory_table(rows: list[MemoryRow], limit_mb: float) -> Table:
    table = Table(title=f"worker memory above its resident size per picture path (limit {limit_mb:.0f} MB)")
    for column in ("path", "picture", "peak MB", "outcome"):
        table.add_column(column, justify="right" if column == "peak MB" else "left")
    for row in rows:
        mark = " (over)" if row.peak_mb > limit_mb else ""
        table.add_row(row.path, f"{row.side}x{row.side} PNG", f"{row.peak_mb:.0f}{mark}", row.outcome)
    return table
