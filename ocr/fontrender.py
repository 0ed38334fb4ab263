"""Draw a transcript with a real font: the known-good images that validate the reader and the scorer.

A diffusion model's candidates are only ever as readable as tesseract makes them, so the reader is
validated on images whose text is known for certain (`glyphbot bench ocr-validate`), and the rejection-sampling
policy and the benchmark are tested with these images standing in for model outputs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype")
# Fonts the Debian images of this project install (fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf).
DEFAULT_FONTS = (
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSerif.ttf",
    "liberation/LiberationSans-Regular.ttf",
    "liberation/LiberationSerif-Regular.ttf",
    "freefont/FreeSans.ttf",
    "freefont/FreeSerifBold.ttf",
)


def available_fonts() -> list[Path]:
    """The default fonts that exist on this machine, in order; raises when none does."""
    fonts = [FONT_DIR / name for name in DEFAULT_FONTS if (FONT_DIR / name).is_file()]
    if not fonts:
        raise FileNotFoundError(f"none of the fonts {DEFAULT_FONTS} is installed under {FONT_DIR}")
    return fonts


@lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def render_text(
    text: str,
    size: int = 256,
    font: Path | str | None = None,
    *,
    margin: float = 0.08,
    max_font_px: int | None = None,
    foreground: tuple[int, int, int] = (20, 20, 20),
    background: tuple[int, int, int] = (245, 242, 235),
) -> Image.Image:
    """A `size`×`size` RGB image of `text` (lines split at `\\n`), centred, at the largest font that fits.

    The font shrinks until the text fits inside the margins; `max_font_px` caps it so that short words
    do not fill the whole image (which is unlike what a model draws and unlike what reading must handle).
    """
    path = str(font or available_fonts()[0])
    image = Image.new("RGB", (size, size), background)
    if not text.strip():
        return image
    draw = ImageDraw.Draw(image)
    room = size * (1 - 2 * margin)
    font_px = max_font_px or size // 2
    while True:
        face = _font(path, font_px)
        left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=face, align="center", spacing=font_px // 4)
        if (right - left <= room and bottom - top <= room) or font_px <= 6:
            break
        font_px = max(6, int(font_px * 0.9))
    origin = ((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top)
    draw.multiline_text(origin, text, font=face, fill=foreground, align="center", spacing=font_px // 4)
    return image
