"""Transcript blocks in NPF posts: planning, rebuilding and the delimiter guard (pure functions, fuzzed)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.tumblr.content import (
    ImageSlot,
    blocks_to_text,
    build_content,
    plan_post,
    surviving_delimiter,
    text_to_blocks,
)
from ocr.transcripts import DELIMITER, TranscriptFormatError


def paragraph(text: str) -> dict:
    return {"type": "text", "text": text}


def test_plain_and_caption_blocks_become_slots_in_order() -> None:
    text = "hello\n\n=======\nOPEN\nLATE\n=======\nmiddle\n=======\n=======\na shop sign\n=======\nSALE\n=======\nbye"
    plan = plan_post(text_to_blocks(text))
    assert [(i.index, i.text, i.caption) for i in plan.images] == [(0, "OPEN\nLATE", None), (1, "SALE", "a shop sign")]
    assert plan.items == [paragraph("hello"), ImageSlot(0), paragraph("middle"), ImageSlot(1), paragraph("bye")]
    assert plan.images[1].alt_text == "a shop sign\nSALE"


def test_textless_blocks_are_omitted_or_kept_by_policy() -> None:
    text = "a\n=======\n[image]\n=======\nb\n=======\n=======\nc"
    assert plan_post(text_to_blocks(text)).images == []
    kept = plan_post(text_to_blocks(text), keep_textless=True)
    assert [i.textless for i in kept.images] == [True, True]


def test_unclosed_block_is_an_error_not_prose() -> None:
    with pytest.raises(TranscriptFormatError):
        plan_post(text_to_blocks("intro\n=======\nNEVER CLOSED"))


def test_non_text_blocks_pass_through_and_split_runs() -> None:
    link = {"type": "link", "url": "https://example.org"}
    content = [{"type": "text", "text": "x"}, {"type": "text", "text": DELIMITER}, {"type": "text", "text": "HI"},
               {"type": "text", "text": DELIMITER}, link, {"type": "text", "text": "after"}]
    plan = plan_post(content)
    assert plan.items == [paragraph("x"), ImageSlot(0), link, paragraph("after")]
    built = build_content(plan, {0: (64, 32)})
    assert built[1] == {"type": "image", "alt_text": "HI",
                        "media": [{"type": "image/png", "identifier": "glyphbot-image-0", "width": 64, "height": 32}]}
    assert surviving_delimiter(built, ["guidance scale 2"]) is None


def test_guard_finds_delimiters_anywhere_a_reader_would_see_them() -> None:
    assert surviving_delimiter([{"type": "text", "text": "x ======= y"}], []) is not None
    assert surviving_delimiter([{"type": "image", "alt_text": "a\n=======", "media": []}], []) is not None
    assert surviving_delimiter([], ["======="]) is not None
    link = {"type": "link", "url": "https://example.org", "title": "a", "poster": [{"url": "u", "alt": "x ======="}]}
    assert surviving_delimiter([link], []) == "block 0 (poster.0.alt) still contains '======='"


# Deterministic (derandomize, no example database) so the area's tests cannot flake; 6,000 random
# examples of each were run when these were written.
FUZZ = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])

line = st.one_of(
    st.sampled_from([DELIMITER, DELIMITER + " ", " " + DELIMITER, "[image]", "", "========", "=== ===="]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
)


@settings(max_examples=300, **FUZZ)
@given(st.lists(line, max_size=25), st.booleans())
def test_fuzz_never_crashes_and_never_leaves_a_delimiter(lines: list[str], keep_textless: bool) -> None:
    text = "\n".join(lines)
    try:
        plan = plan_post(text_to_blocks(text), keep_textless)
    except TranscriptFormatError:
        return  # the adapter holds such a post in drafts; nothing is published
    content = build_content(plan, {image.index: (64, 64) for image in plan.images})
    reason = surviving_delimiter(content, [])
    published_lines = [ln for b in content for ln in (b.get("text") or b.get("alt_text") or "").split("\n")]
    if reason is None:
        # what the guard lets through really has no delimiter line, in prose or alt text
        assert all(ln.strip(" \t\r") != DELIMITER for ln in published_lines)
        assert all(DELIMITER not in ln for ln in published_lines)
    assert len(plan.images) == sum(isinstance(i, ImageSlot) for i in plan.items)
    assert blocks_to_text(content).count("\n") <= max(0, len(content) - 1)


prose = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="=\r"), max_size=40)
image_text = st.lists(prose.filter(lambda s: "\n" not in s and s.strip() not in ("", "[image]")), min_size=1, max_size=3)
caption = st.one_of(st.none(), prose.filter(lambda s: "\n" not in s and s.strip() != ""))


@settings(max_examples=200, **FUZZ)
@given(st.lists(st.one_of(prose.map(lambda p: ("prose", p)), st.tuples(image_text, caption)), max_size=8))
def test_fuzz_well_formed_posts_publish_every_block_and_no_delimiter(parts: list) -> None:
    from ocr.transcripts import format_transcript

    text = "".join(p[1] + "\n" if p[0] == "prose" else format_transcript("\n".join(p[0]), p[1]) for p in parts)
    plan = plan_post(text_to_blocks(text))
    expected = [("\n".join(p[0]), p[1]) for p in parts if p[0] != "prose"]
    assert [(i.text, i.caption) for i in plan.images] == expected
    content = build_content(plan, {image.index: (64, 64) for image in plan.images})
    assert surviving_delimiter(content, []) is None


def test_prose_blocks_keep_their_formatting_and_subtype() -> None:
    heading = {"type": "text", "text": "Signs", "subtype": "heading1"}
    linked = {"type": "text", "text": "see this", "formatting": [{"start": 4, "end": 8, "type": "link", "url": "u"}]}
    straddling = {"type": "text", "text": f"intro\n{DELIMITER}"}  # a line break inside one paragraph
    content = [heading, linked, straddling, {"type": "text", "text": "SIGN"}, {"type": "text", "text": DELIMITER},
               {"type": "text", "text": ""}]
    plan = plan_post(content)
    assert plan.items == [heading, linked, paragraph("intro"), ImageSlot(0)]
    assert [image.text for image in plan.images] == ["SIGN"]
