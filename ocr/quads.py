"""Text blocks cut out of a picture for reading: the layout says where each block's letters are.

Reading a whole picture at once asks one binarisation threshold, one text polarity and one letter
size to fit everything in it: a tweet card on a photograph, a grey handle beside a bold name, a
meme's caption over a busy picture. Each block cut out on its own has one ground and one letter
size, so `ocr.reader.prepare` fits it. A quad (four corners, as fractions of the picture's width and
height) follows a turned sign's letters; what lies outside it is painted over with the block's own
ground, so a neighbouring line that a turned box reaches into is not read twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageOps

if TYPE_CHECKING:  # the layout module defines quads; reading needs only the type, not its import time
    from generation.layout import Quad


def quad_pixels(quad: Quad, size: tuple[int, int]) -> list[tuple[float, float]]:
    """The quad's corners in pixels of a picture of `size` (width, height)."""
    width, height = size
    return [(x * width, y * height) for x, y in quad]


def crop_quad(gray: Image.Image, quad: Quad) -> tuple[Image.Image, tuple[int, int]] | None:
    """The grey picture inside `quad`, cut to the quad's bounding box, with the outside filled by the
    median of the quad's rim (its margin, which is the block's ground, not its letters).

    Returns the crop and its top-left corner in the picture, or None when the quad lies outside it."""
    corners = quad_pixels(quad, gray.size)
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    left, top = max(0, int(np.floor(min(xs)))), max(0, int(np.floor(min(ys))))
    right, bottom = min(gray.width, int(np.ceil(max(xs)))), min(gray.height, int(np.ceil(max(ys))))
    if right - left < 2 or bottom - top < 2:
        return None
    crop = gray.crop((left, top, right, bottom))
    local = [(x - left, y - top) for x, y in corners]
    inside = Image.new("L", crop.size, 0)
    ImageDraw.Draw(inside).polygon(local, fill=255)
    rim = Image.new("L", crop.size, 0)
    ImageDraw.Draw(rim).polygon(local, outline=255, width=max(1, min(crop.size) // 16))
    pixels, rim_mask = np.asarray(crop), np.asarray(rim) > 0
    ground = int(np.median(pixels[rim_mask])) if rim_mask.any() else int(np.median(pixels))
    filled = Image.new("L", crop.size, ground)
    filled.paste(crop, (0, 0), inside)
    # Stretch the block to the full range: its ground becomes white (or black, before the reader
    # turns light letters dark), like the white canvas the blocks are stacked on. A mid-grey ground
    # beside that white made tesseract binarise the whole ground as ink and read nothing.
    return ImageOps.autocontrast(filled, cutoff=1), (left, top)
