"""Draw a transcript into a small image, the way seed 003's synthetic set did.

Text in many fonts, sizes, colours and lightness, on flat or simple (gradient, two-tone)
backgrounds, left/centre/right aligned at a random position. The text is always fully inside the
image and drawn from fonts that cover ASCII, so each image's transcript is exactly what is visible.
Rendering happens at 2x and is downsampled, giving anti-aliased strokes like real screenshots.
"""

from __future__ import annotations

import colorsys
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DEFAULT_FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/opentype")
MIN_FONTS = 10
# Fonts that cannot draw plain text legibly at small sizes (symbol/math faces, hairline weights).
_UNSUITABLE = ("Math", "ExtraLight", "Symbol")
SUPERSAMPLE = 2


class FontError(RuntimeError):
    """Too few usable fonts to render varied training data."""


@lru_cache(maxsize=8)
def find_fonts(font_dirs: tuple[str, ...] = DEFAULT_FONT_DIRS) -> tuple[str, ...]:
    """TrueType/OpenType files under `font_dirs`, sorted so runs are reproducible."""
    fonts = sorted(
        str(path)
        for folder in font_dirs
        if Path(folder).is_dir()
        for path in Path(folder).rglob("*")
        if path.suffix.lower() in (".ttf", ".otf") and not any(word in path.name for word in _UNSUITABLE)
    )
    if len(fonts) < MIN_FONTS:
        raise FontError(
            f"found {len(fonts)} font files under {', '.join(font_dirs)}; need at least {MIN_FONTS}. "
            "Install Debian's fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-freefont-ttf (setup.sh does)."
        )
    return tuple(fonts)


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@dataclass(frozen=True)
class RenderStyle:
    """The random choices behind one image, kept so a sample can be reproduced or inspected."""

    font: str
    font_px: int
    align: str
    background: str
    grayscale: bool


def _random_colour(rng: random.Random, lightness: float, grayscale: bool) -> tuple[int, int, int]:
    if grayscale:
        level = round(lightness * 255)
        return (level, level, level)
    red, green, blue = colorsys.hls_to_rgb(rng.random(), lightness, rng.uniform(0.0, 0.9))
    return (round(red * 255), round(green * 255), round(blue * 255))


def _background(rng: random.Random, size: int, lightness: float, grayscale: bool) -> tuple[Image.Image, str]:
    kind = rng.choices(["flat", "gradient", "two-tone"], weights=[0.6, 0.25, 0.15])[0]
    first = _random_colour(rng, lightness, grayscale)
    image = Image.new("RGB", (size, size), first)
    if kind == "flat":
        return image, kind
    second = _random_colour(rng, min(max(lightness + rng.uniform(-0.12, 0.12), 0.0), 1.0), grayscale)
    draw = ImageDraw.Draw(image)
    if kind == "gradient":
        for row in range(size):
            mix = row / max(size - 1, 1)
            draw.line([(0, row), (size, row)], fill=tuple(round(a + (b - a) * mix) for a, b in zip(first, second)))
    else:
        split = rng.randint(size // 4, 3 * size // 4)
        draw.rectangle([0, split, size, size], fill=second)
    return image, kind


def _bbox(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, align: str, spacing: int) -> tuple[int, int, int, int]:
    """Whole-pixel bounding box of multi-line text drawn at the origin."""
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font, align=align, spacing=spacing)
    return int(left), int(top), int(right + 0.999), int(bottom + 0.999)


def _fit_font_px(text: str, font_path: str, box: int, align: str, spacing_ratio: float) -> int:
    """Largest pixel size at which `text` fits in a `box`-wide square (binary search)."""
    low, high = 4, box
    while low < high:
        mid = (low + high + 1) // 2
        font = _font(font_path, mid)
        left, top, right, bottom = _bbox(ImageDraw.Draw(Image.new("L", (1, 1))), text, font, align, round(mid * spacing_ratio))
        if right - left <= box and bottom - top <= box:
            low = mid
        else:
            high = mid - 1
    return low


def render_text_image(
    text: str,
    size: int,
    rng: random.Random,
    fonts: tuple[str, ...],
    grayscale: bool = False,
) -> tuple[Image.Image, RenderStyle]:
    """An RGB image of `size` px showing exactly `text`."""
    canvas = size * SUPERSAMPLE
    margin = max(round(canvas * 0.04), 1)
    font_path = rng.choice(fonts)
    align = rng.choice(["left", "center", "right"])
    spacing_ratio = rng.uniform(0.1, 0.35)
    largest = _fit_font_px(text, font_path, canvas - 2 * margin, align, spacing_ratio)
    font_px = max(4, round(largest * rng.uniform(0.7, 1.0)))
    font = _font(font_path, font_px)

    background_lightness = rng.random()
    text_lightness = background_lightness + (rng.uniform(0.4, 0.9) if background_lightness < 0.5 else -rng.uniform(0.4, 0.9))
    image, background_kind = _background(rng, canvas, background_lightness, grayscale)
    draw = ImageDraw.Draw(image)
    spacing = round(font_px * spacing_ratio)
    left, top, right, bottom = _bbox(draw, text, font, align, spacing)
    x = rng.randint(margin, max(margin, canvas - margin - (right - left))) - left
    y = rng.randint(margin, max(margin, canvas - margin - (bottom - top))) - top
    draw.multiline_text(
        (x, y), text, font=font, align=align, spacing=spacing,
        fill=_random_colour(rng, min(max(text_lightness, 0.0), 1.0), grayscale),
    )
    style = RenderStyle(Path(font_path).name, font_px // SUPERSAMPLE, align, background_kind, grayscale)
    return image.resize((size, size), Image.Resampling.LANCZOS), style
