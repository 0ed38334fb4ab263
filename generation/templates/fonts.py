"""The font families templates draw each role in: screenshots use plain sans faces, memes bold
condensed capitals, covers and posters anything with character. Picked from the fonts this machine
has (generation.layout.find_fonts), so a template never names a file that may be missing."""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path

from generation.layout import DEFAULT_FONT_DIRS, find_fonts, uncovered_characters

_SLANTED = ("Oblique", "Italic")


def _stem(path: str) -> str:
    return Path(path).stem


@lru_cache(maxsize=8)
def _families(fonts: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    upright = [path for path in fonts if not any(word in _stem(path) for word in _SLANTED)]
    bold = tuple(path for path in upright if "Bold" in _stem(path) and "Mono" not in _stem(path))
    regular_sans = tuple(
        path for path in upright if "Sans" in _stem(path) and "Bold" not in _stem(path) and "Mono" not in _stem(path)
    )
    serif = tuple(path for path in upright if "Serif" in _stem(path))
    return {"bold": bold or tuple(upright), "sans": regular_sans or tuple(upright), "serif": serif or tuple(upright), "any": tuple(upright)}


@lru_cache(maxsize=1)
def caps_fonts() -> tuple[str, ...]:
    """Bebas Neue (Debian's fonts-bebas-neue), the condensed capitals of memes and posters; it draws
    lowercase letters as capitals, so it may only write text that is already upper case."""
    return tuple(
        str(path)
        for folder in DEFAULT_FONT_DIRS
        if Path(folder).is_dir()
        for path in sorted(Path(folder).rglob("BebasNeue-*.otf"))
        if path.stem in ("BebasNeue-Regular", "BebasNeue-Bold")
    )


def fonts_for(text: str, family: str, rng: random.Random, pinned: str | None = None, fonts: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Fonts of `family` (bold, sans, serif, any; "caps" adds Bebas Neue for all-capital text) that
    draw every character of `text`, the seed's pick first; `pinned` (a path) overrides the family."""
    fonts = fonts or find_fonts()
    if pinned:
        return (pinned,)
    pool = list(_families(fonts)["bold" if family == "caps" else family])
    if family == "caps" and text.upper() == text and any(char.isalpha() for char in text):
        pool = list(caps_fonts()) + pool
    usable = [path for path in pool if not uncovered_characters(text, path)]
    if not usable:
        usable = [path for path in fonts if not uncovered_characters(text, path)]
    first = rng.choice(usable) if usable else None
    return tuple([first] + [path for path in usable if path != first]) if first else tuple(fonts)
