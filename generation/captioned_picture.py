"""A meme of the user's own picture (`imagine --image P --template meme`): outlined captions written
over it, the rest of the picture kept.

The picture's centred square is what the model draws at its sizes. Each candidate lays its captions
out from its seed (generation.templates.captions_over_picture: the top half of the lines at the top,
the rest at the bottom) and, at every step, the predicted clean picture outside the captions' boxes
is replaced by the user's (generation.guidance.KeepRegion): the model writes the captions and blends
them into the picture around them. Finally every pixel outside the boxes is the user's own again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageFilter

from generation.colour import centre_square
from generation.guidance import CleanEdit, KeepRegion
from generation.layout import LayoutError, PageLayout, check_length, find_fonts, font_by_name
from generation.templates.captions import captions_over_picture
from generation.request_parsers import normalize_prompt

MARGIN = 0.03  # the model may redraw this far around a caption's ink box (a share of the side)


@dataclass(frozen=True)
class CaptionedPicture:
    """The user's picture (a square, RGB) and what the candidates need to caption it."""

    picture: Image.Image

    @classmethod
    def of(cls, picture: Image.Image) -> "CaptionedPicture":
        return cls(centre_square(picture))

    def layouts(self, text: str, seeds: Sequence[int], font: str | None = None) -> list[PageLayout]:
        """Each candidate's captions, from its own seed; `font` (a name) pins the typeface."""
        text = normalize_prompt(text)
        if not text.strip():
            raise LayoutError("the transcript is empty: there is no caption to write")
        check_length(text)
        font_path = font_by_name(font, find_fonts()) if font else None
        return [captions_over_picture(text.split("\n"), random.Random(seed), font_path) for seed in seeds]

    def _free(self, layout: PageLayout, size: int) -> np.ndarray:
        """(size, size) bool: where the model draws (the captions' ink boxes and a margin)."""
        free = np.zeros((size, size), dtype=bool)
        for left, top, right, bottom in layout.text_boxes():
            x0, y0 = int(max(0.0, left - MARGIN) * size), int(max(0.0, top - MARGIN) * size)
            x1, y1 = int(np.ceil(min(1.0, right + MARGIN) * size)), int(np.ceil(min(1.0, bottom + MARGIN) * size))
            free[y0:y1, x0:x1] = True
        return free

    def keep_region(self, layouts: Sequence[PageLayout], size: int) -> KeepRegion:
        """Keep the picture outside every candidate's captions, at `size` px."""
        square = self.picture.resize((size, size), Image.Resampling.BICUBIC)
        known = torch.from_numpy(np.asarray(square, np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
        keep = torch.from_numpy(np.stack([~self._free(layout, size) for layout in layouts]).astype(np.float32))[:, None]
        return KeepRegion(known, keep)

    def steering(self, layouts: Sequence[PageLayout], size: int, lend_colours: bool) -> list[CleanEdit]:
        """Each sampling step's edits at `size` px: the picture kept outside the captions. A meme's
        captions keep their own outlined look, so the picture lends them no colours."""
        return [self.keep_region(layouts, size)]

    def paste(self, drawn: Image.Image, layout: PageLayout) -> Image.Image:
        """The user's picture with the drawn captions pasted in, fading over a few pixels at their edges."""
        size = drawn.width
        mask = Image.fromarray((self._free(layout, size) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(size * 0.006))
        result = self.picture.resize((size, size), Image.Resampling.LANCZOS)
        result.paste(drawn.convert("RGB"), (0, 0), mask)
        return result
