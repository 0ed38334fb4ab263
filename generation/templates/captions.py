"""Memes: bold capitals with an outline over a picture (top and bottom captions), or the caption
band above a picture that "Nobody:" / "me: ... also me: ..." posts use."""

from __future__ import annotations

import random

from generation.layout import PageLayout, Region, place_text
from generation.templates.fonts import fonts_for


def meme(lines: list[str], rng: random.Random, font: str | None, align: str | None) -> PageLayout:
    """Two or fewer lines, most often: captions over a full picture (the first line on top, the last at
    the bottom). More lines, or a dialogue, go in a white band above the picture."""
    if len(lines) <= 2 and rng.random() < 0.75:
        return captions_over_picture(lines, rng, font)
    text = "\n".join(lines)
    band_share = min(0.62, 0.16 + 0.0016 * len(text) + 0.04 * len(lines))
    block = place_text("caption", text, (0.05, 0.035, 0.95, band_share - 0.03), fonts_for(text, rng.choice(("sans", "bold")), rng, font), rng, align or "left", "center", max_px=24, min_px=8)
    return PageLayout("meme", (block,), (Region("surface", (0.0, 0.0, 1.0, band_share)), Region("picture", (0.0, band_share, 1.0, 1.0))))


def captions_over_picture(lines: list[str], rng: random.Random, font: str | None) -> PageLayout:
    """The classic meme: outlined capitals over the whole picture, the first half of the lines at the
    top, the rest at the bottom (one line: the top only). Also how a user's own picture is captioned."""
    split = (len(lines) + 1) // 2
    top_text, bottom_text = "\n".join(lines[:split]), "\n".join(lines[split:])
    blocks = [place_text("caption", top_text, (0.04, 0.03, 0.96, 0.36), fonts_for(top_text, "caps", rng, font), rng, "center", "top", max_px=40, min_px=10, spacing_ratio=0.05)]
    if bottom_text:
        blocks.append(place_text("caption", bottom_text, (0.04, 0.62, 0.96, 0.97), fonts_for(bottom_text, "caps", rng, font), rng, "center", "bottom", max_px=40, min_px=10, spacing_ratio=0.05))
    return PageLayout("meme", tuple(blocks), (Region("picture", (0.0, 0.0, 1.0, 1.0)),))
