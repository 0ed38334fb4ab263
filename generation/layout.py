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

Long transcripts are word-wrapped: a transcript's own line breaks stay line breaks, and a line too
long for the largest comfortable letters is broken at spaces into drawn lines (`wrap_to_width`).
A template (generation.templates) lays a transcript out as several `TextBlock`s (a tweet's name,
handle and body; a meme's captions) plus the `Region`s that are not text (a card, an avatar, a
picture area), in a `PageLayout`; a plain `GlyphLayout` is the one-block "card".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from generation.request_parsers import PromptError, normalize_prompt
from generation.types import ALIGNMENTS

DEFAULT_FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/opentype")
MIN_FONTS = 10
# Fonts that cannot draw plain text legibly at small sizes (symbol/math faces, hairline weights).
# Colour emoji are pictures, not letters; Bebas Neue draws every lowercase letter as a capital, so it
# may only write capitals (generation.templates picks it for meme captions by name).
_UNSUITABLE = ("Math", "ExtraLight", "Symbol", "Emoji", "Bebas")
SUPERSAMPLE = 2
# Free border around the text, as a share of the canvas side.
MARGIN = 0.04
# The smallest letters a layout may use, in pixels of font size on a `LEGIBLE_AT` px canvas: below
# this the final 256 px picture cannot be read (tesseract misreads glyphs under ~8 px).
MIN_FONT_PX = 8
LEGIBLE_AT = 256
# Reference canvas the fitting is computed on (the SR size, supersampled): sizes are stored as fractions.
_FIT_CANVAS = LEGIBLE_AT * SUPERSAMPLE
# A transcript whose lines fit at this size or larger (px on the 256 px picture) is drawn with its own
# line breaks only; below it, lines are word-wrapped to the width that gives the largest letters.
COMFORT_FONT_PX = 16
# The most characters a transcript may have (the original system cut its prompts at 380).
MAX_TRANSCRIPT_CHARS = 380


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


def wrap_line(line: str, width: int) -> list[str]:
    """`line` broken at spaces into pieces of at most `width` characters. A word longer than that
    stays whole on a line of its own: a break inside a word would read as two words."""
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            pieces.append(current)
            current = word
    pieces.append(current)
    return pieces


def wrap_to_width(text: str, width: int) -> str:
    """Every line of `text` wrapped at `width` characters; the text's own line breaks stay."""
    return "\n".join(piece for line in text.split("\n") for piece in wrap_line(line, width))


def fit_wrapped(text: str, font_path: str, box_w: int, box_h: int, align: str, spacing_ratio: float) -> tuple[str, int]:
    """The wrapping of `text` that allows the largest letters in a `box_w` x `box_h` px box, and that
    size: the transcript's own lines first, then narrower wraps (a few widths, each fitted by binary
    search). Returns (drawn text, font px); px 0 when nothing fits."""
    longest = max(len(line) for line in text.split("\n"))
    best_text, best_px = text, _fit_font_px_box(text, font_path, box_w, box_h, align, spacing_ratio)
    if best_px >= COMFORT_FONT_PX * SUPERSAMPLE or longest <= 8:
        return best_text, best_px
    candidates = {round(longest * share) for share in (0.8, 0.65, 0.5)} | {64, 54, 46, 40, 34, 29, 25, 21, 17, 13, 10}
    widths = sorted((width for width in candidates if 8 <= width < longest), reverse=True)
    worse = 0
    for width in widths:  # from wide to narrow: the size rises to a peak and falls, so stop past it
        wrapped = wrap_to_width(text, width)
        px = _fit_font_px_box(wrapped, font_path, box_w, box_h, align, spacing_ratio)
        if px > best_px:
            best_text, best_px, worse = wrapped, px, 0
        else:
            worse += 1
            if worse == 2:
                break
    return best_text, best_px


def _fit_font_px_box(text: str, font_path: str, box_w: int, box_h: int, align: str, spacing_ratio: float) -> int:
    """Largest pixel size at which `text` fits in a `box_w` x `box_h` box; 0 if none.

    Text grows almost linearly with its size, so one measurement at a reference size gives a close
    estimate, which a few steps then correct (a binary search costs several times more, and layouts
    are fitted for every training picture)."""

    def fits(px: int) -> bool:
        left, top, right, bottom = _bbox(text, _font(font_path, px), align, round(px * spacing_ratio))
        return right - left <= box_w and bottom - top <= box_h

    reference = 64
    left, top, right, bottom = _bbox(text, _font(font_path, reference), align, round(reference * spacing_ratio))
    estimate = int(reference * min(box_w / max(right - left, 1), box_h / max(bottom - top, 1)))
    px = max(1, min(estimate, min(box_w, box_h)))
    if fits(px):
        while px < min(box_w, box_h) and fits(px + 1):
            px += 1
        return px
    while px > 1:
        px = max(1, int(px * 0.97)) if px > 40 else px - 1
        if fits(px):
            return px
    return 0


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

    def draw_onto(
        self, canvas: Image.Image, fill: int | tuple[int, ...], stroke_width: int = 0, stroke_fill: tuple[int, ...] | None = None
    ) -> None:
        """Draw the text in `fill` onto `canvas` (any size; the layout scales with it), outlined by
        `stroke_width` px of `stroke_fill` when given (meme captions)."""
        side = canvas.width
        font_px = max(1, round(self.font_scale * side))
        font = _font(self.font, font_px)
        spacing = round(font_px * self.spacing_ratio)
        left, top, _, _ = _bbox(self.text, font, self.align, spacing)
        origin = (round(self.left * side) - left, round(self.top * side) - top)
        ImageDraw.Draw(canvas).multiline_text(
            origin, self.text, font=font, align=self.align, spacing=spacing, fill=fill, stroke_width=stroke_width, stroke_fill=stroke_fill
        )

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

    @property
    def template(self) -> str:
        return "card"

    def region_map(self, size: int) -> np.ndarray:
        """A plain card has no regions besides its text: an all-zero map."""
        return np.zeros((size, size), np.float32)

    def text_boxes(self) -> list[tuple[float, float, float, float]]:
        """The ink box of the text, (left, top, right, bottom) as fractions of the canvas side."""
        font = _font(self.font, round(self.font_scale * _FIT_CANVAS))
        left, top, right, bottom = _bbox(self.text, font, self.align, round(self.font_scale * _FIT_CANVAS * self.spacing_ratio))
        return [(self.left, self.top, self.left + (right - left) / _FIT_CANVAS, self.top + (bottom - top) / _FIT_CANVAS)]

    def reading_box(self) -> Fraction4:
        """The ink box with a little room around it for OCR: a quarter of a letter each side (more
        reached into a tweet's avatar, read as "(" before the handle), a fifth above and below (more
        would reach into the next block's lines). The reader pads the crop itself."""
        left, top, right, bottom = self.text_boxes()[0]
        side, tall = 0.25 * self.font_scale, 0.2 * self.font_scale
        return (left - side, top - tall, right + side, bottom + tall)


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
    text = normalize_prompt(text)
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
    check_length(text)
    chosen_align = align or rng.choice(ALIGNMENTS)
    spacing_ratio = rng.uniform(0.1, 0.35)
    margin = max(round(_FIT_CANVAS * MARGIN), 1)
    first = rng.choice(usable)
    inner = _FIT_CANVAS - 2 * margin
    drawn, largest = fit_in_box(text, (first, *(path for path in usable if path != first)), inner, inner, chosen_align, spacing_ratio)
    chosen_font = drawn.font
    font_px = max(MIN_FONT_PX * SUPERSAMPLE, round(largest * rng.uniform(0.7, 1.0)))
    spacing = round(font_px * spacing_ratio)
    left, top, right, bottom = _bbox(drawn.text, _font(chosen_font, font_px), chosen_align, spacing)
    x = rng.randint(margin, max(margin, _FIT_CANVAS - margin - (right - left)))
    y = rng.randint(margin, max(margin, _FIT_CANVAS - margin - (bottom - top)))
    return GlyphLayout(drawn.text, chosen_font, chosen_align, font_px / _FIT_CANVAS, spacing_ratio, x / _FIT_CANVAS, y / _FIT_CANVAS)


@dataclass(frozen=True)
class _Fitted:
    text: str  # as drawn: wrapped where needed
    font: str


def check_length(text: str) -> None:
    """Refuse a transcript over MAX_TRANSCRIPT_CHARS with LayoutError naming the limit."""
    if len(text) > MAX_TRANSCRIPT_CHARS:
        raise LayoutError(
            f"the transcript has {len(text)} characters; at most {MAX_TRANSCRIPT_CHARS} can be drawn legibly. Shorten it."
        )


def fit_in_box(
    text: str, fonts: Sequence[str], box_w: int, box_h: int, align: str, spacing_ratio: float, min_px: int = MIN_FONT_PX * SUPERSAMPLE
) -> tuple[_Fitted, int]:
    """The first of `fonts` (in order) in which `text`, wrapped where that helps, fits a `box_w` x
    `box_h` box (px of the supersampled 256 px canvas) at `min_px` or more; that wrapping and the
    largest size. Raises LayoutError when no font reaches `min_px`: a wide font gives way to others."""
    for font in fonts:
        drawn, largest = fit_wrapped(text, font, box_w, box_h, align, spacing_ratio)
        if largest >= min_px:
            return _Fitted(drawn, font), largest
    lines = text.split("\n")
    raise LayoutError(
        f"the transcript is too large to be legible: {len(lines)} line(s), {len(text)} characters, would need letters "
        f"smaller than {min_px // SUPERSAMPLE} px on a {LEGIBLE_AT} px picture in every font, even word-wrapped. "
        "Use fewer or shorter lines."
    )


# ---------------------------------------------------------------------- templates' building blocks

# How each kind of non-text region is drawn into the region map (one channel): surfaces that carry
# text (a card, a bubble, a board, a page) brightest, avatars and icons in between, picture areas
# (a meme's photo, a poster's image) dimmest; the background scene stays 0.
REGION_LEVELS = {"surface": 1.0, "avatar": 0.7, "picture": 0.4}
REGION_SHAPES = ("rect", "rounded", "ellipse")

Fraction4 = tuple[float, float, float, float]
Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]  # corners, fractions


@dataclass(frozen=True)
class Region:
    """A non-text part of a template: `box` is (left, top, right, bottom) as fractions of the canvas."""

    kind: str
    box: Fraction4
    shape: str = "rect"
    radius: float = 0.0  # corner radius of a rounded rectangle, as a fraction of the canvas side

    def __post_init__(self) -> None:
        if self.kind not in REGION_LEVELS or self.shape not in REGION_SHAPES:
            raise ValueError(f"unknown region kind {self.kind!r} or shape {self.shape!r}")

    def draw_onto(self, canvas: Image.Image, fill: int | tuple[int, int, int]) -> None:
        side = canvas.width
        left, top, right, bottom = (round(value * side) for value in self.box)
        draw = ImageDraw.Draw(canvas)
        if self.shape == "ellipse":
            draw.ellipse([left, top, right, bottom], fill=fill)
        elif self.shape == "rounded":
            draw.rounded_rectangle([left, top, right, bottom], radius=max(1, round(self.radius * side)), fill=fill)
        else:
            draw.rectangle([left, top, right, bottom], fill=fill)


@dataclass(frozen=True)
class TextBlock:
    """One part of a template's text: its role (name, handle, body, caption, title...), the transcript
    lines it shows (`source`) and how they are drawn (`layout`, wrapped where needed)."""

    role: str
    source: str
    layout: GlyphLayout


@dataclass(frozen=True)
class PageLayout:
    """A transcript laid out by a template: text blocks in reading order, the regions that are not
    text, and a slight rotation of the whole (a sign seen at an angle). Like a GlyphLayout it draws
    its maps at any size, so every stage of one candidate reads one layout."""

    template: str
    blocks: tuple[TextBlock, ...]
    regions: tuple[Region, ...] = ()
    rotation: float = 0.0  # degrees, counter-clockwise, about the centre

    @property
    def text(self) -> str:
        """The transcript: every block's lines in reading order."""
        return "\n".join(block.source for block in self.blocks)

    @property
    def main(self) -> GlyphLayout:
        """The block with the most text (a tweet's body, a meme's longer caption)."""
        return max(self.blocks, key=lambda block: len(block.source)).layout

    @property
    def font(self) -> str:
        return self.main.font

    @property
    def font_name(self) -> str:
        return self.main.font_name

    @property
    def align(self) -> str:
        return self.main.align

    def _finish(self, canvas: Image.Image, size: int) -> Image.Image:
        if self.rotation:
            canvas = canvas.rotate(self.rotation, resample=Image.Resampling.BICUBIC)
        return canvas.resize((size, size), Image.Resampling.LANCZOS)

    def draw_text_onto(self, canvas: Image.Image, fill: int | tuple[int, int, int]) -> None:
        for block in self.blocks:
            block.layout.draw_onto(canvas, fill)

    def render(self, size: int, fill: int | tuple[int, int, int], background: int | tuple[int, int, int] | Image.Image) -> Image.Image:
        """Every block in `fill` on `background` (regions are not drawn: the font-render ceiling).

        Only the letters turn with `rotation`: turning the whole canvas would bring in corners of
        another colour, which OCR reads as strokes ("|") that the model's pictures do not have."""
        canvas = background.copy() if isinstance(background, Image.Image) else Image.new(
            "L" if isinstance(fill, int) else "RGB", (size * SUPERSAMPLE,) * 2, background
        )
        ink = Image.new("L", canvas.size, 0)
        self.draw_text_onto(ink, 255)
        if self.rotation:
            ink = ink.rotate(self.rotation, resample=Image.Resampling.BICUBIC)
        canvas.paste(fill, (0, 0, *canvas.size), ink)
        return canvas.resize((size, size), Image.Resampling.LANCZOS)

    def glyph_map(self, size: int) -> np.ndarray:
        """(size, size) float32 in [0, 1]: 1 where any block's letters are."""
        return np.asarray(self.render(size, 255, 0), dtype=np.float32) / 255.0

    def region_map(self, size: int) -> np.ndarray:
        """(size, size) float32 in [0, 1]: each region at its kind's level (REGION_LEVELS), in order."""
        canvas = Image.new("L", (size * SUPERSAMPLE,) * 2, 0)
        for region in self.regions:
            region.draw_onto(canvas, round(REGION_LEVELS[region.kind] * 255))
        return np.asarray(self._finish(canvas, size), dtype=np.float32) / 255.0

    def text_boxes(self) -> list[Fraction4]:
        """Each block's ink box (left, top, right, bottom) as fractions, before rotation."""
        return [box for block in self.blocks for box in block.layout.text_boxes()]

    def reading_quads(self) -> tuple[Quad, ...]:
        """Where OCR reads each block, in reading order: its reading box turned with the letters."""
        return tuple(_turned(box_quad(block.layout.reading_box()), self.rotation) for block in self.blocks)


def box_quad(box: Fraction4) -> Quad:
    """An axis-aligned (left, top, right, bottom) box as a quad, corners clockwise from top-left."""
    left, top, right, bottom = box
    return ((left, top), (right, top), (right, bottom), (left, bottom))


def _turned(quad: Quad, degrees: float) -> Quad:
    """`quad` turned as PIL's Image.rotate turns a picture: counter-clockwise about its centre."""
    if not degrees:
        return quad
    angle = np.radians(degrees)
    cos, sin = float(np.cos(angle)), float(np.sin(angle))
    return tuple(  # type: ignore[return-value]
        (0.5 + (x - 0.5) * cos + (y - 0.5) * sin, 0.5 - (x - 0.5) * sin + (y - 0.5) * cos) for x, y in quad
    )


def reading_quads(layout: object) -> tuple[Quad, ...] | None:
    """Where OCR should read each text block of a candidate's layout (see `ocr.quads`), or None for a
    layout whose text is not in blocks (a tween frame's blend, a photo's box) or holds no text."""
    if isinstance(layout, PageLayout):
        return layout.reading_quads() or None
    if isinstance(layout, GlyphLayout) and layout.text.strip():
        return (box_quad(layout.reading_box()),)
    return None


class Layout(Protocol):
    """Anything that draws a candidate's conditioning maps at a stage's size: a GlyphLayout (a plain
    card), a PageLayout (a template), a tween frame's blend of two layouts, text in a photo's box.
    The pipeline reads nothing else of a layout."""

    def glyph_map(self, size: int) -> np.ndarray:
        """(size, size) float32 in [0, 1]: where the letters are."""
        ...

    def region_map(self, size: int) -> np.ndarray:
        """(size, size) float32 in [0, 1]: the non-text regions at their kinds' levels (REGION_LEVELS)."""
        ...


def stacked_maps(layouts: Sequence[Layout | None], size: int, kind: str = "glyph") -> np.ndarray:
    """The candidates' glyph (or, with kind="region", region) maps at `size` px, (N, size, size)
    float32; a candidate without a layout gets a blank map. Every stage that conditions on, steers by
    or masks with the letters draws them here, so all of them see the same maps."""
    if kind not in ("glyph", "region"):
        raise ValueError(f"kind must be glyph or region, got {kind!r}")
    blank = np.zeros((size, size), np.float32)
    return np.stack([blank if layout is None else getattr(layout, f"{kind}_map")(size) for layout in layouts])


def place_text(
    role: str,
    text: str,
    box: Fraction4,
    fonts: Sequence[str],
    rng: random.Random,
    align: str = "left",
    valign: str = "top",
    max_px: int = 40,
    min_px: int = MIN_FONT_PX,
    spacing_ratio: float | None = None,
) -> TextBlock:
    """`text` (transcript lines) laid out inside `box` (fractions): wrapped where that gives larger
    letters, in the first font of `fonts` that fits at `min_px` or more (px on the 256 px picture),
    at most `max_px`, a little smaller at random, aligned left/center/right and top/center/bottom.

    Raises LayoutError when the text cannot be legible in the box."""
    left, top, right, bottom = box
    box_w, box_h = round((right - left) * _FIT_CANVAS), round((bottom - top) * _FIT_CANVAS)
    spacing_ratio = rng.uniform(0.15, 0.3) if spacing_ratio is None else spacing_ratio
    fitted, largest = fit_in_box(text, fonts, box_w, box_h, align, spacing_ratio, min_px * SUPERSAMPLE)
    font_px = max(min_px * SUPERSAMPLE, min(largest, max_px * SUPERSAMPLE))
    font_px = max(min_px * SUPERSAMPLE, round(font_px * rng.uniform(0.88, 1.0)))
    ink_left, ink_top, ink_right, ink_bottom = _bbox(fitted.text, _font(fitted.font, font_px), align, round(font_px * spacing_ratio))
    ink_w, ink_h = ink_right - ink_left, ink_bottom - ink_top
    x = left * _FIT_CANVAS + {"left": 0, "center": (box_w - ink_w) / 2, "right": box_w - ink_w}[align]
    y = top * _FIT_CANVAS + {"top": 0, "center": (box_h - ink_h) / 2, "bottom": box_h - ink_h}[valign]
    layout = GlyphLayout(fitted.text, fitted.font, align, font_px / _FIT_CANVAS, spacing_ratio, x / _FIT_CANVAS, y / _FIT_CANVAS)
    return TextBlock(role, text, layout)


def block_bottom(block: TextBlock) -> float:
    """Where a block's ink ends, as a fraction of the canvas: the next block stacks below it."""
    return block.layout.text_boxes()[0][3]
