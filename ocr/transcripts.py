"""The bot's textual stand-in for a picture: parse posts into text and image blocks, and format blocks back.

In the bot's text an image appears as its transcript between delimiter lines of exactly seven `=`::

    some prose
    <blank line>
    =======
    THE WORDS
    IN THE IMAGE
    =======
    more prose

The caption variant opens with two delimiter lines, then the caption, a delimiter, the image text and a
closing delimiter::

    =======
    =======
    a photo of a sign
    =======
    NO PARKING
    =======

The Tumblr adapter uses `parse_post` / `replace_blocks` to turn each block into a generated image, and the
reader uses `format_transcript` to show how the bot "sees" an incoming picture. Segments carry character
offsets (`start`, `end`, end exclusive) into the parsed string, and the segments of a post always tile it
exactly, so a caller can splice without re-rendering anything it did not touch.

Why a strict and a lenient mode: a block that is left unreplaced must never be published, so the adapter
wants a loud `TranscriptFormatError` when a post is malformed (strict, the default). The reader and
moderation views, which only display things, want an answer for any input (lenient): an unclosed block
then runs to the end of the text and is marked `closed=False`, so it is still treated as an image, never
as prose.

Example:

>>> post = "Look:\\n\\n=======\\nHELLO\\nWORLD\\n=======\\nnice"
>>> [type(s).__name__ for s in parse_post(post)]
['TextSegment', 'ImageBlock', 'TextSegment']
>>> block = image_blocks(post)[0]
>>> block.text, block.caption, post[block.start:block.end] == format_block("HELLO\\nWORLD")
('HELLO\\nWORLD', None, True)
>>> format_transcript("OPEN", caption="a door sign")
'\\n=======\\n=======\\na door sign\\n=======\\nOPEN\\n=======\\n'
>>> replace_blocks(post, lambda b: "[image: " + b.text.replace("\\n", " ") + "]\\n")
'Look:\\n\\n[image: HELLO WORLD]\\nnice'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

DELIMITER = "======="


class TranscriptFormatError(ValueError):
    """A post's image blocks are malformed (strict parsing only); `line` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class TextSegment:
    """Prose between image blocks, verbatim (including the blank line that precedes a block)."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class ImageBlock:
    """One image in a post: its text lines joined by `\\n`, an optional caption, and its span in the post.

    The span runs from the first character of the opening delimiter line to just after the newline of the
    closing one. `closed` is False only in lenient mode, for a block whose closing delimiter is missing.
    """

    text: str
    caption: str | None
    start: int
    end: int
    closed: bool = True


Segment = TextSegment | ImageBlock


@dataclass(frozen=True)
class _Line:
    body: str  # without the trailing "\n"
    start: int
    end: int  # after the "\n" when there is one

    @property
    def is_delimiter(self) -> bool:
        # Trailing "\r" (CRLF posts) and stray spaces are tolerated; anything else is prose or image text.
        return self.body.strip(" \t\r") == DELIMITER

    @property
    def content(self) -> str:
        return self.body[:-1] if self.body.endswith("\r") else self.body


def _split_lines(text: str) -> list[_Line]:
    """Split on "\\n" only (not str.splitlines, which also breaks on \\x0b, \\u2028 ... and would shift offsets)."""
    lines: list[_Line] = []
    pos = 0
    while pos < len(text):
        newline = text.find("\n", pos)
        end = len(text) if newline == -1 else newline + 1
        lines.append(_Line(text[pos : newline if newline != -1 else end], pos, end))
        pos = end
    return lines


def _next_delimiter(lines: list[_Line], index: int) -> int | None:
    for i in range(index, len(lines)):
        if lines[i].is_delimiter:
            return i
    return None


def _joined(lines: list[_Line]) -> str:
    return "\n".join(line.content for line in lines)


def parse_post(post: str, *, strict: bool = True) -> list[Segment]:
    """Split `post` into text segments and image blocks, in order, tiling the whole string.

    Strict mode raises `TranscriptFormatError` for an unclosed block; lenient mode never raises and marks
    such a block `closed=False`. Two delimiter lines in a row open the caption variant when non-blank
    caption lines and a delimiter follow; otherwise they are an empty block.
    """
    lines = _split_lines(post)
    segments: list[Segment] = []
    text_start = 0
    i = 0
    while i < len(lines):
        if not lines[i].is_delimiter:
            i += 1
            continue
        if lines[i].start > text_start:
            segments.append(TextSegment(post[text_start : lines[i].start], text_start, lines[i].start))
        block, i = _parse_block(post, lines, i, strict)
        segments.append(block)
        text_start = block.end
    if text_start < len(post):
        segments.append(TextSegment(post[text_start:], text_start, len(post)))
    return segments


def _parse_block(post: str, lines: list[_Line], opening: int, strict: bool) -> tuple[ImageBlock, int]:
    """Parse the block whose opening delimiter is `lines[opening]`; return it and the next line index."""
    start = lines[opening].start
    caption_block = _parse_caption_block(lines, opening)
    if caption_block is not None:
        caption, text, closing = caption_block
        if closing is None:
            if strict:
                message = "captioned image block opened here is never closed by a '=======' line after its text"
                raise TranscriptFormatError(message, opening + 1)
            return ImageBlock(text, caption, start, len(post), closed=False), len(lines)
        return ImageBlock(text, caption, start, lines[closing].end), closing + 1
    closing = _next_delimiter(lines, opening + 1)
    if closing is None:
        if strict:
            raise TranscriptFormatError("image block opened here is never closed by a '=======' line", opening + 1)
        return ImageBlock(_joined(lines[opening + 1 :]), None, start, len(post), closed=False), len(lines)
    return ImageBlock(_joined(lines[opening + 1 : closing]), None, start, lines[closing].end), closing + 1


def _parse_caption_block(lines: list[_Line], opening: int) -> tuple[str, str, int | None] | None:
    """(caption, text, closing line index) when a caption block starts at `opening`, else None.

    The closing index is None when caption and its delimiter are there but the text is never closed.
    """
    if opening + 1 >= len(lines) or not lines[opening + 1].is_delimiter:
        return None
    caption_end = _next_delimiter(lines, opening + 2)
    if caption_end is None or caption_end == opening + 2:
        return None
    caption_lines = lines[opening + 2 : caption_end]
    if any(not line.content.strip() for line in caption_lines):
        return None
    closing = _next_delimiter(lines, caption_end + 1)
    text_lines = lines[caption_end + 1 : closing]  # to the end of the post when never closed
    return _joined(caption_lines), _joined(text_lines), closing


def image_blocks(post: str, *, strict: bool = True) -> list[ImageBlock]:
    """Only the image blocks of `post`, in order."""
    return [s for s in parse_post(post, strict=strict) if isinstance(s, ImageBlock)]


def _check_block_text(text: str, what: str) -> None:
    for line in text.split("\n"):
        if line.strip(" \t\r") == DELIMITER:
            raise ValueError(f"{what} contains a '=======' line, which would end the image block early")


def format_block(text: str, caption: str | None = None) -> str:
    """The delimiter lines and text of one image block, ending with a newline.

    An empty `caption` means no caption. Raises ValueError for text or a caption that could not be parsed
    back to itself: a delimiter line inside either, or a blank caption line (captions end at blank lines).
    """
    _check_block_text(text, "image text")
    if not caption:
        return f"{DELIMITER}\n{text}\n{DELIMITER}\n"
    _check_block_text(caption, "caption")
    if any(not line.strip() for line in caption.split("\n")):
        raise ValueError("a caption must not contain blank lines")
    return f"{DELIMITER}\n{DELIMITER}\n{caption}\n{DELIMITER}\n{text}\n{DELIMITER}\n"


def format_transcript(text: str, caption: str | None = None) -> str:
    """An image's reading as it appears in a post: a blank line, then the block (see `format_block`)."""
    return "\n" + format_block(text, caption)


def render_post(segments: list[Segment]) -> str:
    """Inverse of `parse_post` for well-formed posts: prose verbatim, blocks re-formatted."""
    return "".join(s.text if isinstance(s, TextSegment) else format_block(s.text, s.caption) for s in segments)


def replace_blocks(post: str, replacement: Callable[[ImageBlock], str], *, strict: bool = True) -> str:
    """`post` with every image block's span replaced by `replacement(block)`; prose is kept verbatim."""
    return "".join(
        s.text if isinstance(s, TextSegment) else replacement(s) for s in parse_post(post, strict=strict)
    )
