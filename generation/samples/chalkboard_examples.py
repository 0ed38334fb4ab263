"""Draw the five chalkboard pictures the README's styles are learned from: chalk-white letters with
broken strokes on a dark green board with grain and smudges, a look that is texture as much as colour.
Each picture gets its transcript in a .txt beside it, as `glyphbot style learn` reads them.

Usage: python generation/samples/chalkboard_examples.py FOLDER, then `glyphbot style learn chalk FOLDER/*.png`
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from generation.templates import candidate_layouts

TRANSCRIPTS = ("TODAY\nSOUP", "MENU", "OPEN\nLATE", "HAPPY\nHOUR", "FRESH\nCOFFEE")
SIZE = 256


def chalkboard(text: str, seed: int) -> Image.Image:
    """`text` in chalk on a board, its layout a plain card's (the same glyph layout the model reads)."""
    rng = np.random.default_rng(seed)
    layout = candidate_layouts([text], [seed], template="card")[0]
    letters = np.asarray(layout.glyph_map(SIZE), np.float32)
    smudge = np.asarray(Image.fromarray(np.uint8(rng.integers(0, 256, (8, 8)))).resize((SIZE, SIZE), Image.Resampling.BICUBIC), np.float32) / 255
    board = np.array([34, 62, 46], np.float32) * (0.8 + 0.4 * smudge[..., None]) + rng.normal(0, 9, (SIZE, SIZE, 1))
    chalk = letters * np.clip(rng.normal(0.85, 0.2, (SIZE, SIZE)), 0, 1)  # broken strokes
    picture = board * (1 - chalk[..., None]) + np.array([236, 236, 226], np.float32) * chalk[..., None]
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.4))


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, text in enumerate(TRANSCRIPTS):
        chalkboard(text, index).save(folder / f"chalk{index}.png")
        (folder / f"chalk{index}.txt").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(TRANSCRIPTS)} examples to {folder}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python generation/samples/chalkboard_examples.py FOLDER")
    main(Path(sys.argv[1]))
