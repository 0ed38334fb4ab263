"""Post bodies as NPF blocks: find the transcript blocks, rebuild the post with images, and guard delimiters.

A post travels as a list of NPF content blocks (what Tumblr stores and what `drafts(npf=True)` returns).
Consecutive text blocks form one run of lines; each run is parsed with `ocr.transcripts.parse_post`
(strict, so an unclosed block is an error rather than prose that might get published). Prose keeps the
author's own text blocks (their formatting, links and subtypes), except a paragraph that shares a line
break with a transcript: its prose lines become plain text blocks. Non-text blocks (an image the author
placed by hand, a link) pass through untouched.

Everything here is pure: no I/O, no database, so the fuzz tests can hammer it directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

from ocr.transcripts import DELIMITER, ImageBlock, parse_post

Block = dict[str, Any]
# An author writes these when the picture has no words; the original bot did the same.
TEXTLESS_MARKERS = frozenset({"", "[image]"})


@dataclass(frozen=True)
class PlannedImage:
    """One transcript block that becomes one generated image; `index` counts blocks across the post."""

    index: int
    text: str
    caption: str | None

    @property
    def textless(self) -> bool:
        return self.text.strip() in TEXTLESS_MARKERS

    @property
    def prompt(self) -> str:
        return "" if self.textless else self.text

    @property
    def alt_text(self) -> str:
        """The transcript, so readers of the post (and screen readers) get the words the image holds."""
        parts = [p for p in (self.caption, "" if self.textless else self.text) if p]
        return "\n".join(parts) or "image"


@dataclass(frozen=True)
class ImageSlot:
    index: int


Item = Union[ImageSlot, Block]  # a generated image, or a block of the post as it goes out


@dataclass(frozen=True)
class PostPlan:
    """The post with each transcript block replaced by a slot; `images` are the blocks to generate."""

    items: list[Item]
    images: list[PlannedImage]


def check_blocks(content: object) -> list[Block]:
    """`content` when it is a list of NPF blocks; otherwise ValueError saying what is wrong and where.

    Posts from the HTTP API or other callers arrive as JSON of any shape; checking here turns a bad
    one into a clear refusal at intake instead of a crash later in the pipeline.
    """
    if not isinstance(content, list):
        raise ValueError(f"content must be a list of NPF blocks, not {type(content).__name__}")
    for position, block in enumerate(content):
        if not isinstance(block, dict):
            raise ValueError(f"block {position} is not an object but {type(block).__name__}")
        if not isinstance(block.get("type"), str):
            raise ValueError(f"block {position} has no type")
        if block["type"] == "text" and not isinstance(block.get("text"), str):
            raise ValueError(f"block {position}: text must be a string")
    return content


def text_to_blocks(text: str) -> list[Block]:
    """Plain text (folder/CLI/HTTP input) as NPF text blocks, one per line, as Tumblr's editor makes them.

    Blank lines are kept as empty blocks only so the transcript parser sees the same lines; they are
    dropped again when the post is rebuilt.
    """
    return [{"type": "text", "text": line} for line in text.split("\n")]


def blocks_to_text(content: list[Block]) -> str:
    """The lines of a post's text blocks, for display and moderation views."""
    return "\n".join(block.get("text", "") for block in content if block.get("type") == "text")


def plan_post(content: list[Block], keep_textless: bool = False) -> PostPlan:
    """Find every transcript block; raises `ocr.transcripts.TranscriptFormatError` for a malformed one.

    Empty and `[image]` blocks are dropped unless `keep_textless` (the caller then decides about them).
    """
    items: list[Item] = []
    images: list[PlannedImage] = []
    run: list[Block] = []

    def flush() -> None:
        if not run:
            return
        texts = [str(block.get("text", "")) for block in run]
        spans, offset = [], 0  # where each block's text lies in the joined run
        for text in texts:
            spans.append((offset, offset + len(text)))
            offset += len(text) + 1
        for segment in parse_post("\n".join(texts) + "\n", strict=True):
            if isinstance(segment, ImageBlock):
                image = PlannedImage(len(images), segment.text, segment.caption)
                if image.textless and not keep_textless:
                    continue
                images.append(image)
                items.append(ImageSlot(image.index))
                continue
            for block, text, (start, end) in zip(run, texts, spans):
                if not text.strip() or end < segment.start or start >= segment.end:
                    continue  # blank paragraphs are dropped, as before; others belong to other segments
                if segment.start <= start and end <= segment.end:
                    items.append(block)  # wholly prose: the author's block as written
                    continue
                shared = text[max(segment.start, start) - start:min(segment.end, end) - start]
                items.extend({"type": "text", "text": line} for line in shared.split("\n") if line.strip())
        run.clear()

    for block in content:
        if block.get("type") == "text":
            run.append(block)
        else:
            flush()
            items.append(block)
    flush()
    return PostPlan(items, images)


def image_block(image: PlannedImage, identifier: str, width: int, height: int) -> Block:
    """An NPF image block whose media is the multipart part named `identifier`."""
    return {
        "type": "image",
        "media": [{"type": "image/png", "identifier": identifier, "width": width, "height": height}],
        "alt_text": image.alt_text,
    }


def media_identifier(index: int) -> str:
    return f"glyphbot-image-{index}"


def build_content(plan: PostPlan, sizes: dict[int, tuple[int, int]]) -> list[Block]:
    """The NPF content of the finished post; `sizes` gives (width, height) of each generated image."""
    by_index = {image.index: image for image in plan.images}
    content: list[Block] = []
    for item in plan.items:
        if isinstance(item, ImageSlot):
            width, height = sizes[item.index]
            content.append(image_block(by_index[item.index], media_identifier(item.index), width, height))
        else:
            content.append(item)
    return content


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a block, with its dotted path: an author's own link or video block has
    titles, descriptions and poster alt texts that readers see too."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def surviving_delimiter(content: list[Block], tags: list[str]) -> str | None:
    """Why this post must not be published, or None: any `=======` left anywhere that readers would see.

    Deliberately stricter than the parser (a substring, not only a whole line): a false alarm costs a
    moderator a look at a draft, a miss publishes a broken post.
    """
    for position, block in enumerate(content):
        for path, value in _strings(block):
            if DELIMITER in value:
                return f"block {position} ({path}) still contains '{DELIMITER}'"
    for tag in tags:
        if DELIMITER in tag:
            return f"tag {tag!r} contains '{DELIMITER}'"
    return None
