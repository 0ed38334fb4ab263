"""Where `/imagine` writes the text into the user's own photo: an exact `box` or a `where` band.

A user gives a box in the pixels of the picture they have, but the job stores that picture shrunk to
at most 1024 px a side (attachments.read_picture). So the box is checked against the picture as sent,
where the error's numbers mean something to the user, and then scaled to the stored picture, whose
pixels the job's box is in. A `where` band is laid on the stored picture directly. Pure: no discord.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.discord.attachments import Picture
from generation.request_parsers import format_box, parse_box
from generation.types import BOX_PLACES, Box, box_for_place


@dataclass(frozen=True)
class Placement:
    """An exact box (the user's pixels) or a place from BOX_PLACES; exactly one of them is set."""

    box: Box | None = None
    place: str | None = None

    def resolve(self, picture: Picture) -> Box:
        """The box in the stored picture's pixels; ValueError naming what is wrong when it does not fit."""
        if self.place is not None:
            return box_for_place(picture.width, picture.height, self.place)
        assert self.box is not None
        x, y, w, h = self.box
        width, height = picture.source_width, picture.source_height
        if x + w > width or y + h > height:
            edge = "right" if x + w > width else "bottom"
            raise ValueError(
                f"box {format_box(self.box)} reaches past the picture's {edge} edge; the picture is {width}×{height} pixels"
            )
        return _scaled(self.box, picture)


def parse_placement(box: str | None, where: str | None, *, has_image: bool) -> tuple[Placement | None, list[str]]:
    """The placement the options ask for and the problems found in them (one sentence each): a box that
    is not four numbers or has no area, both options at once, or either one without a picture."""
    box = (box or "").strip() or None
    if box is None and where is None:
        return None, []
    problems: list[str] = []
    name = "box" if box is not None else "where"
    if box is not None and where is not None:
        problems.append("box: give either box or where, not both.")
    if not has_image:
        problems.append(f"{name}: says where in your picture the text goes; attach the picture with the `image` option.")
    if where is not None and where not in BOX_PLACES:
        problems.append(f"where: {where!r} is not one of {', '.join(BOX_PLACES)}.")
    exact: Box | None = None
    if box is not None:
        try:
            exact = parse_box(box)
        except ValueError as error:
            problems.append(f"box: {error}.")
        else:
            problems += _area_problems(exact)
    if problems:
        return None, problems
    return Placement(box=exact) if exact is not None else Placement(place=where), []


def _area_problems(box: Box) -> list[str]:
    x, y, w, h = box
    if x < 0 or y < 0:
        return [f"box: {format_box(box)} starts outside the picture; X and Y are 0 or more (0,0 is the top left corner)."]
    if w < 1 or h < 1:
        return [f"box: {format_box(box)} has no area; the width and height are 1 or more."]
    return []


def _scaled(box: Box, picture: Picture) -> Box:
    """The box in the stored picture's pixels: scaled by how much the picture was shrunk, kept inside it
    and at least one pixel wide and high."""
    fx, fy = picture.width / picture.source_width, picture.height / picture.source_height
    if (fx, fy) == (1.0, 1.0):
        return box
    x, y, w, h = box
    left, top = min(round(x * fx), picture.width - 1), min(round(y * fy), picture.height - 1)
    right, bottom = min(round((x + w) * fx), picture.width), min(round((y + h) * fy), picture.height)
    return (left, top, max(1, right - left), max(1, bottom - top))
