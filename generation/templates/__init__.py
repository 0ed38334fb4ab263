"""Templates: the kinds of picture a transcript comes from, each a way to lay it out.

A template turns a transcript into a layout (generation.layout): a plain card is one block of text
(`GlyphLayout`); every other template makes a `PageLayout` of text blocks with roles and the regions
that are not text (a tweet's card and avatar, a meme's picture, a sign's board). The same code lays
out the synthetic training pictures (generation.data) and a user's request, so what the model is
shown at inference is what it learned from.

Rules read the transcript's shape and offer templates (`rules.template_choices`); each candidate's
seed picks one and varies its details; `template=` pins one. A template that cannot lay a transcript
out legibly gives way to the next choice, and at last to the card, whose error names the limit.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

from generation.layout import (
    Layout,
    LayoutError,
    PageLayout,
    check_length,
    choose_layout,
    find_fonts,
    font_by_name,
    font_name,
    uncovered_characters,
)
from generation.templates.captions import meme
from generation.templates.printed import cover, notice, page, poster
from generation.templates.rules import template_choices
from generation.templates.screens import chat, tweet
from generation.templates.signs import sign
from generation.request_parsers import normalize_prompt
from generation.types import ALIGNMENTS, TEMPLATES

TemplateFunction = Callable[[list[str], random.Random, "str | None", "str | None"], PageLayout]

PAGE_TEMPLATES: dict[str, TemplateFunction] = {
    "tweet": tweet, "chat": chat, "meme": meme, "sign": sign,
    "poster": poster, "cover": cover, "page": page, "notice": notice,
}
assert set(PAGE_TEMPLATES) | {"card"} == set(TEMPLATES), "generation.types.TEMPLATES and the template functions disagree"


class TemplateError(LayoutError):
    """An unknown template name; the message lists the names."""


def lay_out(
    text: str,
    rng: random.Random,
    template: str | None = None,
    font: str | None = None,
    align: str | None = None,
    fonts: tuple[str, ...] | None = None,
) -> Layout:
    """`text` laid out by `template` (or one the rules choose, picked by `rng`), with the font (a
    path) and alignment pinned when given. Raises LayoutError when it cannot be drawn legibly."""
    fonts = fonts or find_fonts()
    text = normalize_prompt(text)
    if not text.strip():
        raise LayoutError("the transcript is empty: there is nothing to lay out")
    check_length(text)
    if template is not None and template not in TEMPLATES:
        raise TemplateError(f"unknown template {template!r}; choose one of: {', '.join(TEMPLATES)} (glyphbot templates lists them)")
    if align is not None and align not in ALIGNMENTS:
        raise LayoutError(f"alignment must be one of {', '.join(ALIGNMENTS)}, got {align!r}")
    _check_drawable(text, fonts, font)
    choices = (template,) if template else template_choices(text)
    first = rng.choice(choices)
    # Later choices, then the card, take over from a template that cannot fit the text.
    order = [first, *(name for name in choices if name != first), *(["card"] if "card" not in choices else [])]
    lines = text.split("\n")
    failure: LayoutError | None = None
    for name in order:
        try:
            if name == "card":
                return choose_layout(text, rng, fonts, font, align)
            return PAGE_TEMPLATES[name](lines, rng, font, align)
        except LayoutError as error:
            failure = failure or error
            if template is not None:
                raise LayoutError(f"the {template} template cannot lay this transcript out: {error}") from None
    raise failure or LayoutError("no template could lay this transcript out")


def _check_drawable(text: str, fonts: tuple[str, ...], font: str | None) -> None:
    if font is not None:
        missing = uncovered_characters(text, font)
        if missing:
            raise LayoutError(f"font {font_name(font)} cannot draw {missing!r}; pick another font or leave the font to glyphbot")
    elif not any(not uncovered_characters(text, path) for path in fonts):
        missing = "".join(sorted(set.intersection(*(set(uncovered_characters(text, path)) for path in fonts))))
        raise LayoutError(f"no installed font can draw {missing or 'these characters'!r}; remove them from the transcript")


def candidate_layouts(
    prompts: Sequence[str],
    seeds: Sequence[int],
    mode: str = "glyph",
    font: str | None = None,
    align: str | None = None,
    template: str | None = None,
) -> list[Layout | None]:
    """Each candidate's layout, drawn from its own seed (template, font, alignment, size, position),
    so a seed reproduces its layout exactly and OCR reranking chooses among layouts. None in mode
    "none" and for a text-less prompt.

    `font` is a font name (`glyphbot fonts`), `align` left, center or right, `template` one of
    generation.types.TEMPLATES; each pins that choice."""
    if mode == "none":
        return [None] * len(prompts)
    fonts = find_fonts()
    font_path = font_by_name(font, fonts) if font else None
    return [
        None if not prompt.strip() else lay_out(prompt, random.Random(seed), template, font_path, align, fonts)
        for prompt, seed in zip(prompts, seeds, strict=True)
    ]
