"""A sign or board in a scene: the text on a board (rounded or square, later given a border and a
shadow by the painter) placed somewhere in the picture, turned slightly, over a wall, sky or texture."""

from __future__ import annotations

import random

from generation.layout import PageLayout, Region, place_text
from generation.templates.fonts import fonts_for


def sign(lines: list[str], rng: random.Random, font: str | None, align: str | None) -> PageLayout:
    """The board hugs the text with a margin; short texts get a smaller board, so more of the scene shows."""
    text = "\n".join(lines)
    width = rng.uniform(0.62, 0.86) if len(text) > 24 else rng.uniform(0.5, 0.8)
    height = min(0.86, rng.uniform(0.3, 0.5) + 0.004 * len(text))
    left = rng.uniform(0.04, 0.96 - width)
    top = rng.uniform(0.05, 0.95 - height)
    pad = rng.uniform(0.04, 0.07)
    block = place_text(
        "sign", text, (left + pad, top + pad, left + width - pad, top + height - pad),
        fonts_for(text, rng.choice(("bold", "sans", "any", "caps")), rng, font), rng, align or rng.choice(("center", "center", "left")), "center",
        max_px=44, min_px=8,
    )
    ink_left, ink_top, ink_right, ink_bottom = block.layout.text_boxes()[0]
    board = (max(0.01, ink_left - pad), max(0.01, ink_top - pad), min(0.99, ink_right + pad), min(0.99, ink_bottom + pad))
    shape = rng.choice(("rect", "rounded"))
    return PageLayout("sign", (block,), (Region("surface", board, shape, 0.025),), rotation=rng.uniform(-5.0, 5.0))
