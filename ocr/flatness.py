"""How much a picture shows besides its text: the flatness figure of the text-accuracy benchmark.

    g = mean over pixels p outside the text boxes of sqrt(dx(p)^2 + dy(p)^2)

where L = 0.299 R + 0.587 G + 0.114 B (0..255) and dx, dy are forward differences of L (the last row
and column take none). The text boxes are each block's ink box, widened by 2 % of the picture's side so
anti-aliased edges of letters do not count. A picture is *flat* when g < FLAT_BELOW: a solid or gently
graded card with text on it measures well under 1; scikit-image's photographs resized to 256 px
measure 6 to 16 (rocket 6.2, chelsea 9.9, brick 13.0, coffee 13.4, astronaut 15.7).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from generation.colour import LUMA_WEIGHTS

FLAT_BELOW = 2.0
BOX_MARGIN = 0.02

Box = tuple[float, float, float, float]  # left, top, right, bottom as fractions of the side


def structure_outside_text(image: Image.Image, text_boxes: Sequence[Box] = ()) -> float:
    """The mean luminance gradient g outside `text_boxes` (see the module's formula); 0..~360."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    luminance = rgb @ np.array(LUMA_WEIGHTS, dtype=np.float32)
    dx = np.zeros_like(luminance)
    dy = np.zeros_like(luminance)
    dx[:, :-1] = np.diff(luminance, axis=1)
    dy[:-1, :] = np.diff(luminance, axis=0)
    gradient = np.sqrt(dx**2 + dy**2)
    outside = np.ones(luminance.shape, dtype=bool)
    height, width = luminance.shape
    for left, top, right, bottom in text_boxes:
        x0, x1 = int(max(0.0, left - BOX_MARGIN) * width), int(np.ceil(min(1.0, right + BOX_MARGIN) * width))
        y0, y1 = int(max(0.0, top - BOX_MARGIN) * height), int(np.ceil(min(1.0, bottom + BOX_MARGIN) * height))
        outside[y0:y1, x0:x1] = False
    return float(gradient[outside].mean()) if outside.any() else 0.0


def is_flat(image: Image.Image, text_boxes: Sequence[Box] = ()) -> bool:
    return structure_outside_text(image, text_boxes) < FLAT_BELOW
