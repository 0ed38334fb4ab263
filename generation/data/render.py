"""Draw a transcript into a small picture: a plain card, the way the original system's synthetic set
did, or one of the templates (a tweet, a meme, a sign in a scene...) painted by
generation.data.painter.

Cards: text in many fonts, sizes, colours and lightness, on flat or simple (gradient, two-tone)
backgrounds. Every layout comes from `generation.templates.lay_out` / `generation.layout.choose_layout`
(the same code that lays out a user's prompt at inference), so every picture comes with the maps of
exactly what it shows. Fonts cover the text, so each picture's transcript is exactly what is visible.
"""

from __future__ import annotations

import colorsys
import random

from PIL import Image, ImageDraw

from generation.data.painter import paint_page
from generation.layout import SUPERSAMPLE, GlyphLayout, Layout, PageLayout, choose_layout
from generation.templates import lay_out


def _random_colour(rng: random.Random, lightness: float, grayscale: bool) -> tuple[int, int, int]:
    if grayscale:
        level = round(lightness * 255)
        return (level, level, level)
    red, green, blue = colorsys.hls_to_rgb(rng.random(), lightness, rng.uniform(0.0, 0.9))
    return (round(red * 255), round(green * 255), round(blue * 255))


def _background(rng: random.Random, size: int, lightness: float, grayscale: bool) -> Image.Image:
    kind = rng.choices(["flat", "gradient", "two-tone"], weights=[0.6, 0.25, 0.15])[0]
    first = _random_colour(rng, lightness, grayscale)
    image = Image.new("RGB", (size, size), first)
    if kind == "flat":
        return image
    second = _random_colour(rng, min(max(lightness + rng.uniform(-0.12, 0.12), 0.0), 1.0), grayscale)
    draw = ImageDraw.Draw(image)
    if kind == "gradient":
        for row in range(size):
            mix = row / max(size - 1, 1)
            draw.line([(0, row), (size, row)], fill=tuple(round(a + (b - a) * mix) for a, b in zip(first, second)))
    else:
        split = rng.randint(size // 4, 3 * size // 4)
        draw.rectangle([0, split, size, size], fill=second)
    return image


def render_text_image(
    text: str,
    size: int,
    rng: random.Random,
    fonts: tuple[str, ...],
    grayscale: bool = False,
) -> tuple[Image.Image, GlyphLayout]:
    """An RGB picture of `size` px showing exactly `text`, and the layout it was drawn from."""
    layout = choose_layout(text, rng, fonts)
    return _paint_card(layout, size, rng, grayscale), layout


def _paint_card(layout: GlyphLayout, size: int, rng: random.Random, grayscale: bool) -> Image.Image:
    background_lightness = rng.random()
    text_lightness = background_lightness + (rng.uniform(0.4, 0.9) if background_lightness < 0.5 else -rng.uniform(0.4, 0.9))
    background = _background(rng, size * SUPERSAMPLE, background_lightness, grayscale)
    fill = _random_colour(rng, min(max(text_lightness, 0.0), 1.0), grayscale)
    return layout.render(size, fill, background)


def render_template_image(text: str, template: str, size: int, rng: random.Random, fonts: tuple[str, ...]) -> tuple[Image.Image, Layout]:
    """A picture of `text` drawn as `template` (a card when the template cannot fit it), and its layout."""
    layout = lay_out(text, rng, template, fonts=fonts) if template != "card" else choose_layout(text, rng, fonts)
    if isinstance(layout, PageLayout):
        return paint_page(layout, size, rng), layout
    return _paint_card(layout, size, rng, grayscale=False), layout
