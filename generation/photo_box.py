"""Whether a box fits a photo, checked the same way at submission (storage.validation, torch-free) and
when the renderer plans the photo (generation.photo): a box the queue takes never fails later for a
size it could have seen."""

from __future__ import annotations

from generation.types import Box

MIN_BOX_SIDE = 16  # px of the photo: smaller boxes cannot hold a legible letter
MAX_PHOTO_SIDE = 4096


class BoxError(ValueError):
    """A box that does not fit the photo, or is too small for the text; the message says which."""


def check_box(width: int, height: int, box: Box) -> None:
    """Refuse a box outside a width x height photo or below the smallest useful size."""
    x, y, w, h = box
    if min(width, height) < MIN_BOX_SIDE or max(width, height) > MAX_PHOTO_SIDE:
        raise BoxError(f"the photo is {width}x{height} px; photos from {MIN_BOX_SIDE} to {MAX_PHOTO_SIDE} px a side can be written into")
    if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
        raise BoxError(f"box {x},{y},{w},{h} is {w}x{h} px; a box needs at least {MIN_BOX_SIDE} px a side")
    if x < 0 or y < 0:
        raise BoxError(f"box {x},{y},{w},{h} starts outside the picture (x and y must be 0 or more)")
    if x + w > width:
        raise BoxError(f"box {x},{y},{w},{h} reaches past the picture's right edge ({width} px wide)")
    if y + h > height:
        raise BoxError(f"box {x},{y},{w},{h} reaches past the picture's bottom edge ({height} px high)")
