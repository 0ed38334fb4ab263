"""Screenshots: a tweet or post (avatar, name, handle, body, time on a card) and a chat (bubbles).

Both read the transcript's lines by their shape: a tweet's handle is the line that starts with "@"
and the name is what comes before it; a time line ("3:42 PM · Dec 3, 2026") closes it. A chat is one
bubble per line, alternating sides unless a "name:" prefix says who speaks.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from generation.layout import LayoutError, PageLayout, Region, TextBlock, block_bottom, place_text
from generation.templates.fonts import fonts_for

TIME_LINE = re.compile(r"^\d{1,2}:\d{2}(\s?[AaPp][Mm])?\b.*$|^\d{1,2}/\d{1,2}/\d{2,4}$|^(Yesterday|Today)\b.*$")
HANDLE_LINE = re.compile(r"^@\w{1,30}\b")


def split_tweet(lines: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """(name lines, handle lines, body lines, time lines) of a tweet-shaped transcript."""
    handle_at = next((index for index, line in enumerate(lines[:3]) if HANDLE_LINE.match(line)), None)
    time = [lines[-1]] if len(lines) > 2 and TIME_LINE.match(lines[-1]) else []
    rest = lines[: len(lines) - len(time)]
    if handle_at is not None and handle_at < len(rest):
        return rest[:handle_at], [rest[handle_at]], rest[handle_at + 1 :], time
    if len(rest) >= 2 and len(rest[0]) <= 30:
        return [rest[0]], [], rest[1:], time
    return [], [], rest, time


def tweet(lines: list[str], rng: random.Random, font: str | None, align: str | None) -> PageLayout:
    """A post screenshot: a card with an avatar, the name in bold beside it, the handle under the name,
    the body below (wrapped to the card), the time at the bottom."""
    name, handle, body, time = split_tweet(lines)
    side = rng.uniform(0.03, 0.07)
    card_top = rng.uniform(0.03, 0.18) if len(" ".join(body)) < 120 else rng.uniform(0.02, 0.06)
    left, right = side, 1 - side
    pad = rng.uniform(0.035, 0.05)
    avatar = rng.uniform(0.1, 0.14)
    avatar_box = (left + pad, card_top + pad, left + pad + avatar, card_top + pad + avatar)
    blocks: list[TextBlock] = []
    header_left = avatar_box[2] + pad * 0.7
    y = card_top + pad
    if name:
        blocks.append(place_text("name", "\n".join(name), (header_left, y, right - pad, y + avatar * 0.55), fonts_for(" ".join(name), "bold", rng), rng, max_px=17, min_px=9, spacing_ratio=0.15))
        y = block_bottom(blocks[-1]) + 0.012
    if handle:
        # Handles and times as large as the name: at 11-13 px (lower case about 6 px tall) neither model
        # wrote them legibly, and every long held-out tweet missed its exact match on one of them.
        blocks.append(place_text("handle", handle[0], (header_left, y, right - pad, y + max(avatar * 0.6, 0.075)), fonts_for(handle[0], "sans", rng), rng, max_px=17, min_px=12))
    body_top = max(avatar_box[3], block_bottom(blocks[-1]) if blocks else 0) + pad * 0.8
    bottom_limit = 0.97 - pad - (0.085 if time else 0)
    if body:
        pinned = font
        blocks.append(place_text("body", "\n".join(body), (left + pad, body_top, right - pad, bottom_limit), fonts_for(" ".join(body), "sans", rng, pinned), rng, align or "left", max_px=22, min_px=8))
    if time:
        y = (block_bottom(blocks[-1]) if blocks else body_top) + 0.025
        blocks.append(place_text("time", time[0], (left + pad, y, right - pad, min(y + 0.075, 0.985 - pad * 0.5)), fonts_for(time[0], "sans", rng), rng, max_px=16, min_px=12))
    if not blocks:
        raise LayoutError("a tweet needs at least one line of text")
    card_bottom = min(0.985, max(block_bottom(block) for block in blocks) + pad)
    regions = (
        Region("surface", (left, card_top, right, card_bottom), "rounded", rng.uniform(0.0, 0.03)),
        Region("avatar", avatar_box, "ellipse"),
    )
    return PageLayout("tweet", tuple(blocks), regions)


SPEAKER = re.compile(r"^([^:]{1,16}):\s*(.*)$")


def chat(lines: list[str], rng: random.Random, font: str | None, align: str | None) -> PageLayout:
    """A text-message screenshot: one rounded bubble per line, stacked down the screen; a line's
    "name:" prefix keeps one speaker on one side, otherwise the sides alternate."""
    sides: dict[str, str] = {}
    side = rng.choice(("left", "right"))
    gap = rng.uniform(0.018, 0.03)
    room = 0.94 - 0.04 - gap * (len(lines) - 1)
    share = room / max(len(lines), 1)
    if share < 0.05:
        raise LayoutError(f"a chat of {len(lines)} lines has no room for a legible bubble each; choose another template")
    weights = [max(len(line), 12) for line in lines]
    total = sum(weights)
    y = rng.uniform(0.03, 0.06)
    blocks, regions = [], []
    pad = 0.022
    family = rng.choice(("sans", "sans", "any"))
    for line, weight in zip(lines, weights):
        match = SPEAKER.match(line)
        if match:
            side = sides.setdefault(match.group(1).lower(), "left" if not sides else "right" if "left" in sides.values() else "left")
        height = max(0.05, room * weight / total)
        x0, x1 = (0.05, 0.74) if side == "left" else (0.26, 0.95)
        block = place_text("message", line, (x0 + pad, y + pad, x1 - pad, y + height - pad), fonts_for(line, family, rng, font), rng, "left", max_px=18, min_px=8)
        ink_left, ink_top, ink_right, ink_bottom = block.layout.text_boxes()[0]
        if side == "right":  # a right-hand bubble hugs the right edge
            shift = (x1 - pad) - ink_right
            block = replace(block, layout=replace(block.layout, left=block.layout.left + shift))
            ink_left, ink_right = ink_left + shift, ink_right + shift
        blocks.append(block)
        regions.append(Region("surface", (ink_left - pad, ink_top - pad, ink_right + pad, ink_bottom + pad), "rounded", 0.03))
        y = ink_bottom + pad + gap
        if not match:
            side = "right" if side == "left" else "left"
    return PageLayout("chat", tuple(blocks), tuple(regions))

