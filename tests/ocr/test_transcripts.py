"""Parsing and formatting the bot's `=======` image blocks."""

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ocr.transcripts as transcripts
from ocr.transcripts import (
    ImageBlock,
    TextSegment,
    TranscriptFormatError,
    format_block,
    format_transcript,
    image_blocks,
    parse_post,
    render_post,
    replace_blocks,
)


def test_module_docstring_example_runs() -> None:
    result = doctest.testmod(transcripts)
    assert result.attempted > 0 and result.failed == 0


def test_plain_block_between_prose() -> None:
    post = "Hello there\n\n=======\nNO PARKING\nEVER\n=======\nbye\n"
    segments = parse_post(post)
    assert segments == [
        TextSegment("Hello there\n\n", 0, 13),
        ImageBlock("NO PARKING\nEVER", None, 13, 45),
        TextSegment("bye\n", 45, 49),
    ]
    assert render_post(segments) == post


def test_caption_variant() -> None:
    post = "intro\n\n=======\n=======\na sign on a door\n=======\nOPEN\n=======\n"
    [block] = image_blocks(post)
    assert (block.caption, block.text) == ("a sign on a door", "OPEN")
    assert post[block.start : block.end] == format_block("OPEN", caption="a sign on a door")
    assert render_post(parse_post(post)) == post


def test_block_at_start_and_end_without_trailing_newline() -> None:
    post = "=======\nA\n=======\ntext\n=======\nB\n======="
    blocks = image_blocks(post)
    assert [b.text for b in blocks] == ["A", "B"]
    assert blocks[1].end == len(post)


def test_adjacent_blocks() -> None:
    post = format_block("A") + format_block("B", caption="cap") + format_block("C")
    assert [(b.text, b.caption) for b in image_blocks(post)] == [("A", None), ("B", "cap"), ("C", None)]


@pytest.mark.parametrize("text", ["", "\n", "A\n", "\nA", "  spaced  ", "multi\nline\ntext"])
def test_empty_and_whitespace_blocks_round_trip(text: str) -> None:
    [block] = image_blocks("x\n" + format_transcript(text) + "y")
    assert block.text == text and block.caption is None


def test_two_adjacent_delimiters_without_caption_are_an_empty_block() -> None:
    post = "=======\n=======\nprose\n"
    segments = parse_post(post)
    assert segments == [ImageBlock("", None, 0, 16), TextSegment("prose\n", 16, 22)]


def test_blank_caption_line_means_empty_block_then_prose_then_block() -> None:
    post = "=======\n=======\n\nprose\n\n=======\nA\n=======\n"
    blocks = image_blocks(post)
    assert [(b.text, b.caption) for b in blocks] == [("", None), ("A", None)]


def test_crlf_posts_are_understood() -> None:
    post = "hi\r\n\r\n=======\r\nTEXT\r\n=======\r\nbye"
    [block] = image_blocks(post)
    assert block.text == "TEXT"
    assert post[block.end :] == "bye"


def test_delimiter_must_be_exactly_seven_signs() -> None:
    post = "======\nnot a block\n========\nnor this\n"
    assert parse_post(post) == [TextSegment(post, 0, len(post))]


@pytest.mark.parametrize(
    ("post", "line"),
    [
        ("prose\n=======\nunclosed text", 2),
        ("=======\nA\n=======\nB\n=======\n", 5),  # a stray third delimiter ("nested" block)
        ("=======\n=======\ncaption\n=======\ntext never closed\n", 1),
    ],
)
def test_unclosed_block_raises_in_strict_mode(post: str, line: int) -> None:
    with pytest.raises(TranscriptFormatError, match="never closed") as info:
        parse_post(post)
    assert info.value.line == line


def test_unclosed_block_in_lenient_mode_runs_to_the_end_and_is_marked() -> None:
    post = "prose\n=======\nunclosed\ntext"
    segments = parse_post(post, strict=False)
    assert segments == [TextSegment("prose\n", 0, 6), ImageBlock("unclosed\ntext", None, 6, len(post), closed=False)]


@pytest.mark.parametrize(
    ("text", "caption", "message"),
    [
        ("a\n=======\nb", None, "image text contains"),
        ("a", "cap\n=======", "caption contains"),
        ("a", "two\n\nparagraphs", "blank lines"),
    ],
)
def test_format_block_refuses_what_would_not_parse_back(text: str, caption: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        format_block(text, caption)


def test_empty_caption_means_no_caption() -> None:
    assert format_block("X", caption="") == format_block("X")


def test_unclosed_caption_block_in_lenient_mode_keeps_its_caption() -> None:
    post = "=======\n=======\ncap\n=======\nTEXT\n"
    assert parse_post(post, strict=False) == [ImageBlock("TEXT", "cap", 0, len(post), closed=False)]


def test_replace_blocks_keeps_prose_verbatim() -> None:
    post = "a\n\n=======\nONE\n=======\nb\n\n=======\n=======\ncap\n=======\nTWO\n=======\nc"
    out = replace_blocks(post, lambda b: f"<img alt={b.text!r}>\n")
    assert out == "a\n\n<img alt='ONE'>\nb\n\n<img alt='TWO'>\nc"


_line_text = st.text(st.characters(blacklist_characters="\n\r"), max_size=12).filter(
    lambda s: s.strip(" \t\r") != "=======" and s.strip()
)
_block_text = st.lists(_line_text | st.just(""), min_size=1, max_size=4).map("\n".join)
_caption = st.none() | st.lists(_line_text, min_size=1, max_size=2).map("\n".join)
_prose = st.lists(_line_text, max_size=3).map(lambda ls: "".join(line + "\n" for line in ls))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_prose, _block_text, _caption), max_size=4), _prose)
def test_round_trip_of_well_formed_posts(parts: list[tuple[str, str, str | None]], tail: str) -> None:
    post = "".join(prose + "\n" + format_block(text, caption) for prose, text, caption in parts) + tail
    blocks = image_blocks(post)
    assert [(b.text, b.caption) for b in blocks] == [(text, caption) for _, text, caption in parts]
    assert render_post(parse_post(post)) == post


_noisy = st.lists(
    st.sampled_from(["=======", "=======\r", "", "x", " ======= ", "========", "A B"]) | st.text(max_size=8),
    max_size=12,
).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(_noisy)
def test_lenient_parse_never_crashes_and_tiles_the_input(post: str) -> None:
    segments = parse_post(post, strict=False)
    assert "".join(post[s.start : s.end] for s in segments) == post
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))
    for segment in segments:
        if isinstance(segment, TextSegment):
            assert segment.text == post[segment.start : segment.end]


@settings(max_examples=200, deadline=None)
@given(_noisy)
def test_strict_parse_raises_only_the_documented_error(post: str) -> None:
    try:
        strict = parse_post(post)
    except TranscriptFormatError:
        assert any(isinstance(s, ImageBlock) and not s.closed for s in parse_post(post, strict=False))
    else:
        assert strict == parse_post(post, strict=False)
