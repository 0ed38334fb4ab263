"""Glyph layouts: where and how a transcript's letters go, drawn as a map at any resolution.

Both U-Nets read a *glyph map* beside the noisy image: the transcript drawn white on black in the
font, size, alignment and position the picture should use (the lever of GlyphControl, TextDiffuser
and AnyText: the denoiser restyles a rendered layout instead of learning to spell from scratch).

A `GlyphLayout` keeps its geometry as fractions of the canvas, so the 64 px base map and the 256 px
super-resolution map of one candidate are the same layout drawn twice. The synthetic training data
is drawn from layouts made by `choose_layout` too, so what the model is shown at inference comes
from exactly the code that made what it learned from.

Text is drawn at `SUPERSAMPLE` times the target size and downsampled, giving anti-aliased strokes
like real screenshots.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from generation.tokenizer import PromptError, normalize_transcript
from generation.types import ALIGNMENTS

DEFAULT_FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/opentype")
MIN_FONTS = 10
# Fonts that cannot draw plain text legibly at small sizes (symbol/math faces, hairline weights).
_UNSUITABLE = ("Math", "ExtraLight", "Symbol")
SUPERSAMPLE = 2
# Free border around the text, as a share of the canvas side.
MARGIN = 0.04
# The smallest letters a layout may use, in pixels of font size on a `LEGIBLE_AT` px canvas: below
# this the final 256 px picture cannot be read (tesseract misreads glyphs under ~8 px).
MIN_FONT_PX = 8
LEGIBLE_AT = 256
# Reference canvas the fitting is computed on (the SR size, supersampled): sizes are stored as fractions.
_FIT_CANVAS = LEGIBLE_AT * SUPERSAMPLE


class FontError(RuntimeError):
    """Too few usable fonts on this machine to render varied text."""


class LayoutError(PromptError):
    """A transcript that cannot be laid out legibly; the message names the limit. A PromptError, so
    every place that refuses bad prompts (CLI, worker, Discord, Tumblr, HTTP) refuses these too."""


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


def font_name(path: str) -> str:
    """The name users pick a font by: its file name without the suffix (e.g. DejaVuSans-Bold)."""
    return Path(path).stem


def font_by_name(name: str, fonts: tuple[str, ...]) -> str:
    """The font file called `name` (case-insensitive), or LayoutError listing what there is."""
    for path in fonts:
        if font_name(path).lower() == name.lower():
            return path
    raise LayoutError(f"unknown font {name!r}; choose one of: {', '.join(font_name(path) for path in fonts)} (glyphbot fonts lists them)")


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=64)
def _covered(path: str) -> frozenset[int]:
    """Code points the font has glyphs for (its best cmap)."""
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True, fontNumber=0) as font:
        return frozenset(font.getBestCmap() or {})


def uncovered_characters(text: str, font: str) -> str:
    """The characters of `text` (spaces and line breaks aside) that `font` cannot draw."""
    covered = _covered(font)
    return "".join(sorted({char for char in text if not char.isspace() and ord(char) not in covered}))


def _bbox(text: str, font: ImageFont.FreeTypeFont, align: str, spacing: int) -> tuple[int, int, int, int]:
    """Whole-pixel bounding box of multi-line text drawn at the origin."""
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font, align=align, spacing=spacing)
    return int(left), int(top), int(right + 0.999), int(bottom + 0.999)


def _fit_font_px(text: str, font_path: str, box: int, align: str, spacing_ratio: float) -> int:
    """Largest pixel size at which `text` fits in a `box`-wide square (binary search); 0 if none does."""
    low, high = 0, box
    while low < high:
        mid = (low + high + 1) // 2
        left, top, right, bottom = _bbox(text, _font(font_path, mid), align, round(mid * spacing_ratio))
        if right - left <= box and bottom - top <= box:
            low = mid
        else:
            high = mid - 1
    return low


@dataclass(frozen=True)
class GlyphLayout:
    """One transcript's placement. Sizes and positions are fractions of the canvas side, so the
    layout draws the same at every resolution."""

    text: str
    font: str
    align: str
    font_scale: float  # font size / canvas side
    spacing_ratio: float  # extra space between lines / font size
    left: float  # left edge of the text's ink box / canvas side
    top: float  # top edge of the text's ink box / canvas side

    @property
    def font_name(self) -> str:
        return font_name(self.font)

    def draw_onto(self, canvas: Image.Image, fill: int | tuple[int, int, int]) -> None:
        """Draw the text in `fill` onto `canvas` (any size; the layout scales with it)."""
        side = canvas.width
        font_px = max(1, round(self.font_scale * side))
        font = _font(self.font, font_px)
        spacing = round(font_px * self.spacing_ratio)
        left, top, _, _ = _bbox(self.text, font, self.align, spacing)
        origin = (round(self.left * side) - left, round(self.top * side) - top)
        ImageDraw.Draw(canvas).multiline_text(origin, self.text, font=font, align=self.align, spacing=spacing, fill=fill)

    def render(self, size: int, fill: int | tuple[int, int, int], background: int | tuple[int, int, int] | Image.Image) -> Image.Image:
        """The text in `fill` on `background` (a colour, or a picture `SUPERSAMPLE` times `size`), drawn
        at `SUPERSAMPLE` times the size and downsampled, so strokes are anti-aliased like screenshots."""
        canvas = background.copy() if isinstance(background, Image.Image) else Image.new(
            "L" if isinstance(fill, int) else "RGB", (size * SUPERSAMPLE,) * 2, background
        )
        self.draw_onto(canvas, fill)
        return canvas.resize((size, size), Image.Resampling.LANCZOS)

    def glyph_map(self, size: int) -> np.ndarray:
        """(size, size) float32 in [0, 1]: 1 where the letters are, anti-aliased."""
        return np.asarray(self.render(size, 255, 0), dtype=np.float32) / 255.0


def choose_layout(
    text: str,
    rng: random.Random,
    fonts: tuple[str, ...],
    font: str | None = None,
    align: str | None = None,
) -> GlyphLayout:
    """A layout for `text` drawn from `rng`: font, alignment, line spacing, a size between 70 % and
    100 % of the largest that fits, and a position inside the margins.

    `font` (a path from `fonts`) and `align` pin those choices. Raises LayoutError when no font draws
    every character, or when the text fits only below the legible size.
    """
    text = normalize_transcript(text)
    if not text.strip():
        raise LayoutError("the transcript is empty: there is nothing to lay out")
    if align is not None and align not in ALIGNMENTS:
        raise LayoutError(f"alignment must be one of {', '.join(ALIGNMENTS)}, got {align!r}")
    if font is not None:
        missing = uncovered_characters(text, font)
        if missing:
            raise LayoutError(f"font {font_name(font)} cannot draw {missing!r}; pick another font or leave the font to glyphbot")
        usable = (font,)
    else:
        usable = tuple(path for path in fonts if not uncovered_characters(text, path))
        if not usable:
            missing = "".join(sorted(set.intersection(*(set(uncovered_characters(text, path)) for path in fonts))))
            raise LayoutError(f"no installed font can draw {missing or 'these characters'!r}; remove them from the transcript")
    chosen_align = align or rng.choice(ALIGNMENTS)
    spacing_ratio = rng.uniform(0.1, 0.35)
    margin = max(round(_FIT_CANVAS * MARGIN), 1)
    first = rng.choice(usable)
    # The drawn font first; a wide one that would need illegibly small letters gives way to the others.
    for chosen_font in (first, *(path for path in usable if path != first)):
        largest = _fit_font_px(text, chosen_font, _FIT_CANVAS - 2 * margin, chosen_align, spacing_ratio)
        if largest >= MIN_FONT_PX * SUPERSAMPLE:
            break
    else:
        lines = text.split("\n")
        longest = max(len(line) for line in lines)
        raise LayoutError(
            f"the transcript is too large to be legible: {len(lines)} line(s), the longest {longest} characters, "
            f"would need letters smaller than {MIN_FONT_PX} px on a {LEGIBLE_AT} px picture in every font. "
            "Use fewer or shorter lines."
        )
    font_px = max(MIN_FONT_PX * SUPERSAMPLE, round(largest * rng.uniform(0.7, 1.0)))
    spacing = round(font_px * spacing_ratio)
    left, top, right, bottom = _bbox(text, _font(chosen_font, font_px), chosen_align, spacing)
    x = rng.randint(margin, max(margin, _FIT_CANVAS - margin - (right - left)))
    y = rng.randint(margin, max(margin, _FIT_CANVAS - margin - (bottom - top)))
    return GlyphLayout(text, chosen_font, chosen_align, font_px / _FIT_CANVAS, spacing_ratio, x / _FIT_CANVAS, y / _FIT_CANVAS)


def candidate_layouts(
    prompts: Sequence[str],
    seeds: Sequence[int],
    mode: str = "glyph",
    font: str | None = None,
    align: str | None = None,
) -> list[GlyphLayout | None]:
    """Each candidate's layout, drawn from its own seed, so a seed reproduces its layout exactly and
    OCR reranking chooses among layouts. None in mode "none" and for a text-less prompt.

    `font` is a font name (`glyphbot fonts`), `align` left, center or right; each pins that choice."""
    if mode == "none":
        return [None] * len(prompts)
    fonts = find_fonts()
    font_path = font_by_name(font, fonts) if font else None
    return [
        None if not prompt.strip() else choose_layout(prompt, random.Random(seed), fonts, font_path, align)
        for prompt, seed in zip(prompts, seeds, strict=True)
    ]
