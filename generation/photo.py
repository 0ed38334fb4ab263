"""Text written into a box of the user's own photo (`imagine --image photo.png --box X,Y,W,H`).

The models draw square pictures, so a region around the box (the box and some context) is cut out of
the photo and scaled to the model's size, the text is laid out inside the box, and sampling keeps
the known pixels outside the box at every step (generation.guidance.KeepRegion): the model draws the
box so that it fits its surroundings. Left alone, the models lay a plain card across the box (most of
what they learned from is text on a card); so, unless a look is asked for, sampling also pulls the
ground between the letters towards the photo's own pixels there and the letters towards a colour that
stands out from them (generation.guidance.BoxGround): the letters are the model's, written onto the
photo. The result is pasted back into the box only, so every pixel outside the box stays the user's.

A box wider than the photo is tall (a band across a landscape photo) cannot sit in a square cut of
the photo; then the square cut-out reaches past the photo's edges, and the model fills that part
freely (it is thrown away), so nothing is ever squeezed out of proportion.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from generation.colour import LUMA_WEIGHTS, Palette
from generation.guidance import BoxGround, CleanEdit, KeepRegion
from generation.layout import REGION_LEVELS, SUPERSAMPLE, LayoutError, _bbox, _font, find_fonts, font_by_name, stacked_maps, uncovered_characters
from generation.photo_box import MIN_BOX_SIDE, BoxError, check_box  # noqa: F401  also imported from here
from generation.request_parsers import normalize_prompt
from generation.types import ALIGNMENTS, Box

MIN_PHOTO_FONT_PX = 10  # the letters' size in the photo's own pixels must reach this
MIN_MODEL_FONT_PX = 8  # and their size in the 256 px picture the model draws (generation.layout.MIN_FONT_PX)
CONTEXT = 1.5  # the cut-out's side, in box sides, when the photo allows
_INSET = 0.08  # free border inside the box, as a share of its sides
FEATHER = 0.06  # the drawing fades in over this share of the box's sides (less than the inset: letters stay whole)
GROUND_STRENGTH = 0.5  # how far each sampling step moves the box's colours towards the photo's there


def _cut_out(width: int, height: int, box: Box) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the region around `box` that the model redraws at its size."""
    x, y, w, h = box
    side = max(w, h)
    side = max(side, min(round(side * CONTEXT), max(width, height)))

    def start(position: int, length: int, extent: int) -> int:
        centred = position + length // 2 - side // 2
        low, high = sorted((0, extent - side))  # inside the photo when it is larger, else around it
        return min(max(centred, low), high)

    left, top = start(x, w, width), start(y, h, height)
    return left, top, left + side, top + side


@dataclass(frozen=True)
class BoxLayout:
    """The transcript laid out inside the box, drawn over the (square) cut-out at the model's size (a
    generation.layout.Layout, so the pipeline takes it in a layout's place)."""

    text: str
    font: str
    align: str
    font_px: float  # the letters' size in photo pixels
    cut_out: tuple[int, int, int, int]
    box: Box

    def region_map(self, size: int) -> np.ndarray:
        """The whole cut-out is a picture: the region level of a meme's photo, where the model learned
        to write over a picture instead of laying a plain card across it."""
        return np.full((size, size), REGION_LEVELS["picture"], np.float32)

    def glyph_map(self, size: int) -> np.ndarray:
        left, top, right, bottom = self.cut_out
        scale = size * SUPERSAMPLE / (right - left)
        canvas = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
        font_px = max(1, round(self.font_px * scale))
        font = _font(self.font, font_px)
        spacing = round(font_px * 0.2)
        ink_left, ink_top, ink_right, ink_bottom = _bbox(self.text, font, self.align, spacing)
        x, y, w, h = self.box
        box_left, box_top = (x - left) * scale, (y - top) * scale
        inner_w, inner_h = w * scale, h * scale
        offset_x = {"left": _INSET * inner_w, "center": (inner_w - (ink_right - ink_left)) / 2, "right": inner_w * (1 - _INSET) - (ink_right - ink_left)}[self.align]
        origin = (round(box_left + offset_x - ink_left), round(box_top + (inner_h - (ink_bottom - ink_top)) / 2 - ink_top))
        ImageDraw.Draw(canvas).multiline_text(origin, self.text, font=font, align=self.align, spacing=spacing, fill=255)
        return np.asarray(canvas.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0


def _fade_in(width: int, height: int, feather: float) -> Image.Image | None:
    """An L mask of the box: 0 at its edge rising to 255 over the outer `feather` share, 255 inside
    (None, a hard paste, for 0)."""
    if feather <= 0:
        return None
    ramp_x, ramp_y = max(1.0, width * feather), max(1.0, height * feather)
    xs = np.minimum(np.arange(width) + 0.5, width - np.arange(width) - 0.5) / ramp_x
    ys = np.minimum(np.arange(height) + 0.5, height - np.arange(height) - 0.5) / ramp_y
    alpha = np.clip(np.minimum(ys[:, None], xs[None, :]), 0, 1)
    return Image.fromarray((alpha * 255).round().astype(np.uint8), "L")


@dataclass(frozen=True)
class PhotoPlan:
    """Where in the photo the text goes: the box, the cut-out the model redraws, and how to paste back."""

    photo: Image.Image
    box: Box
    cut_out: tuple[int, int, int, int]

    def known(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The cut-out at `size` px in [-1, 1], (1, 3, size, size), and the keep mask (1, 1, size, size):
        1 where the photo's pixels stay (outside the box, inside the photo)."""
        region = self.photo.crop(self.cut_out).resize((size, size), Image.Resampling.BICUBIC)
        pixels = torch.from_numpy(np.asarray(region, np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
        left, top, right, bottom = self.cut_out
        x, y, w, h = self.box
        sx, sy = size / (right - left), size / (bottom - top)
        keep = torch.zeros(1, 1, size, size)
        inside = (max(int(np.ceil(-left * sx)), 0), max(int(np.ceil(-top * sy)), 0),
                  min(int((self.photo.width - left) * sx), size), min(int((self.photo.height - top) * sy), size))
        keep[..., inside[1] : inside[3], inside[0] : inside[2]] = 1
        x0, y0, x1, y1 = self.drawn_box(size)
        keep[..., y0:y1, x0:x1] = 0
        return pixels, keep

    def drawn_box(self, size: int) -> tuple[int, int, int, int]:
        """Where the model draws, (left, top, right, bottom) in pixels of the cut-out at `size` px: the
        box and a pixel more on each side, so the box's own edge pixels come from the model."""
        left, top, right, bottom = self.cut_out
        x, y, w, h = self.box
        sx, sy = size / (right - left), size / (bottom - top)
        x0, y0 = max(int((x - left) * sx) - 1, 0), max(int((y - top) * sy) - 1, 0)
        x1, y1 = min(int(np.ceil((x + w - left) * sx)) + 1, size), min(int(np.ceil((y + h - top) * sy)) + 1, size)
        return x0, y0, x1, y1

    def ground(self, layouts: Sequence[BoxLayout], size: int, strength: float = GROUND_STRENGTH) -> BoxGround:
        """Steering that keeps the photo's own ground between the letters in the box and gives the
        letters a colour that stands out from it (dark on a light ground, light on a dark one)."""
        pixels, _ = self.known(size)
        x0, y0, x1, y1 = self.drawn_box(size)
        under = pixels[..., y0:y1, x0:x1]
        mean, std = under.reshape(3, -1).mean(dim=1), under.reshape(3, -1).std(dim=1)
        light_ground = float(mean @ torch.tensor(LUMA_WEIGHTS)) > -0.1
        ink = Palette(torch.full((3,), -0.85 if light_ground else 0.9), torch.full((3,), 0.05), mean, std)
        masks = torch.from_numpy(stacked_maps(layouts, size))
        return BoxGround(under, ink, masks, (x0, y0, x1, y1), strength)

    def keep_region(self, layouts: Sequence[object], size: int) -> KeepRegion:
        """The photo outside the box, kept at `size` px (the same for every candidate's layout)."""
        return KeepRegion(*self.known(size))

    def steering(self, layouts: Sequence[BoxLayout], size: int, lend_colours: bool) -> list[CleanEdit]:
        """Each sampling step's edits at `size` px: the photo's own ground under the letters (unless the
        request asked for a look of its own: `lend_colours` False), then the photo kept outside the box."""
        return [*([self.ground(layouts, size)] if lend_colours else []), self.keep_region(layouts, size)]

    def layouts(self, text: str, seeds: Sequence[int], font: str | None = None, align: str | None = None) -> list[BoxLayout]:
        """Each candidate's layout of `text` in the box, from its own seed (see `box_layout`)."""
        return [box_layout(self, text, seed, font, align) for seed in seeds]

    def paste(self, drawn: Image.Image, layout: object) -> Image.Image:
        """The drawn cut-out pasted into the photo's box (every candidate's layout lies in the box)."""
        return self.composite(drawn)

    def composite(self, drawn: Image.Image, feather: float = FEATHER) -> Image.Image:
        """The photo with the box replaced by the drawn cut-out's box: outside the box, the photo's own pixels.

        The drawing fades in over the box's outer `feather` share (inside the text's own inset), so the
        box's edge does not show as a seam where the model's smoother pixels meet the photo's; 0 pastes hard."""
        left, top, right, bottom = self.cut_out
        region = drawn.convert("RGB").resize((right - left, bottom - top), Image.Resampling.LANCZOS)
        x, y, w, h = self.box
        result = self.photo.copy()
        result.paste(region.crop((x - left, y - top, x - left + w, y - top + h)), (x, y), _fade_in(w, h, feather))
        return result

    def box_region(self, image: Image.Image) -> Image.Image:
        """The box of a composite, what OCR reads (the rest of the photo may hold other text)."""
        x, y, w, h = self.box
        return image.crop((x, y, x + w, y + h))


def plan_photo(photo: Image.Image, box: Box) -> PhotoPlan:
    """Check `box` against `photo` and choose the cut-out around it."""
    check_box(photo.width, photo.height, box)
    return PhotoPlan(photo.convert("RGB"), tuple(int(v) for v in box), _cut_out(photo.width, photo.height, box))  # type: ignore[arg-type]


def box_layout(plan: PhotoPlan, text: str, seed: int, font: str | None = None, align: str | None = None) -> BoxLayout:
    """The largest legible layout of `text` inside the plan's box, font and alignment drawn from
    `seed` unless pinned; LayoutError/BoxError name what does not fit."""
    text = normalize_prompt(text)
    if not text.strip():
        raise LayoutError("the transcript is empty: there is nothing to write into the box")
    fonts = find_fonts()
    rng = random.Random(seed)
    if font is not None:
        path = font_by_name(font, fonts)
        missing = uncovered_characters(text, path)
        if missing:
            raise LayoutError(f"font {font!r} cannot draw {missing!r}; choose another (glyphbot fonts)")
    else:
        usable = [candidate for candidate in fonts if not uncovered_characters(text, candidate)]
        if not usable:
            raise LayoutError(f"no installed font draws every character of the transcript ({text!r})")
        path = rng.choice(usable)
    chosen_align = align if align is not None else rng.choice(ALIGNMENTS)
    x, y, w, h = plan.box
    inner_w, inner_h = w * (1 - 2 * _INSET), h * (1 - 2 * _INSET)
    low, high = 0, int(inner_h)
    while low < high:  # the largest size (in photo px) whose ink box fits inside the box
        mid = (low + high + 1) // 2
        left, top, right, bottom = _bbox(text, _font(path, mid), chosen_align, round(mid * 0.2))
        if right - left <= inner_w and bottom - top <= inner_h:
            low = mid
        else:
            high = mid - 1
    left, top, right, bottom = plan.cut_out
    model_px = low * 256 / (bottom - top)
    if low < MIN_PHOTO_FONT_PX or model_px < MIN_MODEL_FONT_PX:
        raise BoxError(
            f"box {x},{y},{w},{h} is too small for this text: it fits only at {low} px letters "
            f"({model_px:.0f} px in the model's 256 px picture); letters need at least {MIN_PHOTO_FONT_PX} px. "
            "Make the box larger or the text shorter."
        )
    return BoxLayout(text, path, chosen_align, float(low), plan.cut_out, plan.box)
