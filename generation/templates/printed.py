"""Printed things: a poster or flyer, a book cover, a paper note or page, a notice.

Each is a sheet (a surface region) over a scene, with a title set large and the rest smaller; covers
and posters leave a picture area between them."""

from __future__ import annotations

import random
import re

from generation.layout import LayoutError, PageLayout, Region, block_bottom, place_text
from generation.templates.fonts import fonts_for

AUTHOR_LINE = re.compile(r"^(by|written by|a novel by|edited by)\s+\S", re.IGNORECASE)


def _sheet(rng: random.Random, portrait: bool) -> tuple[float, float, float, float]:
    if portrait:
        width = rng.uniform(0.6, 0.8)
        left = rng.uniform(0.03, 0.97 - width)
        return (left, rng.uniform(0.02, 0.05), left + width, rng.uniform(0.95, 0.98))
    return (rng.uniform(0.02, 0.06), rng.uniform(0.02, 0.06), rng.uniform(0.94, 0.98), rng.uniform(0.94, 0.98))


def poster(lines: list[str], rng: random.Random, font: str | None, align: str | None) -> PageLayout:
    """Title (the first line) big at the top of a sheet, a picture area when there is room, the details below."""
    sheet = _sheet(rng, portrait=len(" ".join(lines)) < 160)
    left, top, right, bottom = sheet
    pad = (right - left) * 0.07
    title = place_text("title", lines[0], (left + pad, top + pad, right - pad, top + (bottom - top) * 0.3), fonts_for(lines[0], rng.choice(("caps", "bold", "serif")), rng, font), rng, "center", "top", max_px=40, min_px=10, spacing_ratio=0.1)
    blocks = [title]
    regions = [Region("surface", sheet)]
    rest = lines[1:]
    y = block_bottom(title) + pad * 0.6
    if rest:
        details = "\n".join(rest)
        picture = len(details) < 120 and rng.random() < 0.6
        if picture:
            height = (bottom - y) * 0.4
            regions.append(Region("picture", (left + pad, y, right - pad, y + height)))
            y += height + pad * 0.5
        blocks.append(place_text("details", details, (left + pad, y, right - pad, bottom - pad), fonts_for(details, rng.choice(("sans", "any")), rng), rng, align or "center", "top", max_px=min(22, round(title.layout.font_scale * 256 * 0.8)), min_px=8))
    return PageLayout("poster", tuple(blocks), tuple(regions))


def cover(lines: list[str], rng: random.Random, font: str | None, align: str | None) -> PageLayout:
    """A book cover: the title (every line before an author line) at the top, a picture area in the
    middle, "by ..." at the bottom."""
    author_at = next((index for index, line in enumerate(lines) if index > 0 and AUTHOR_LINE.match(line)), None)
    title_lines = lines if author_at is None else lines[:author_at]
    tail = [] if author_at is None else lines[author_at:]
    sheet = _sheet(rng, portrait=True)
    left, top, right, bottom = sheet
    pad = (right - left) * 0.08
    family = rng.choice(("serif", "caps", "bold"))
    title_text = "\n".join(title_lines)
    blocks = [place_text("title", title_text, (left + pad, top + pad, right - pad, top + (bottom - top) * 0.42), fonts_for(title_text, family, rng, font), rng, "center", "top", max_px=36, min_px=9, spacing_ratio=0.1)]
    regions = [Region("surface", sheet)]
    y = block_bottom(blocks[0]) + pad * 0.5
    author_top = bottom - (bottom - top) * 0.17
    if tail:
        author = "\n".join(tail)
        blocks.append(place_text("author", author, (left + pad, author_top, right - pad, bottom - pad * 0.6), fonts_for(author, rng.choice(("serif", "sans")), rng), rng, "center", "center", max_px=20, min_px=8))
    if author_top - y > 0.12:
        regions.append(Region("picture", (left + pad, y, right - pad, author_top - pad * 0.3)))
    return PageLayout("cover", tuple(blocks), tuple(regions))


def page(lines: list[str], rng: random.Random, font: str | None, align: str | None) -> PageLayout:
    """A note or a page: every line left-aligned from the top of a sheet, wrapped to its width."""
    text = "\n".join(lines)
    sheet = _sheet(rng, portrait=len(text) < 90 and rng.random() < 0.5)
    left, top, right, bottom = sheet
    pad = (right - left) * rng.uniform(0.05, 0.08)
    block = place_text("body", text, (left + pad, top + pad, right - pad, bottom - pad), fonts_for(text, rng.choice(("sans", "serif", "any")), rng, font), rng, align or "left", "top", max_px=22, min_px=8)
    return PageLayout("page", (block,), (Region("surface", sheet),), rotation=rng.uniform(-3.0, 3.0))


def notice(lines: list[str], rng: random.Random, font: str | None, align: str | None) -> PageLayout:
    """A notice: a bold heading (the first line) centred over the body, on a sheet with a border band."""
    if len(lines) < 2:
        raise LayoutError("a notice needs a heading line and at least one line under it")
    left, top, right, bottom = _sheet(rng, portrait=False)
    pad = (right - left) * 0.06
    heading = place_text("heading", lines[0], (left + pad, top + pad, right - pad, top + 0.22), fonts_for(lines[0], "bold", rng), rng, "center", "top", max_px=34, min_px=10, spacing_ratio=0.1)
    body_text = "\n".join(lines[1:])
    y = block_bottom(heading) + pad * 0.7
    body = place_text("body", body_text, (left + pad, y, right - pad, bottom - pad), fonts_for(body_text, rng.choice(("sans", "serif")), rng, font), rng, align or rng.choice(("left", "center")), "top", max_px=22, min_px=8)
    return PageLayout("notice", (heading, body), (Region("surface", (left, top, right, bottom)),))
