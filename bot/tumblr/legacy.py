"""Posts the bot reads, in either of Tumblr's formats, as one flat list of NPF blocks.

The adapter asks for NPF where it can (a reblog's NPF `trail` keeps each earlier post's blocks
apart), but pytumblr's `posts`, `queue` and other callers hand over legacy JSON: photo posts with a
`photos` list, text posts with an HTML `body` in which images are `<img>` tags. Turning both into
the same blocks lets one reader handle them.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

Block = dict[str, Any]
_BREAKS = ("p", "br", "figure", "div", "h1", "h2", "h3", "blockquote", "li")


class _BodyParser(HTMLParser):
    """One text block per line or paragraph, one image block per <img> (its alt text kept)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._text: list[str] = []

    def _flush(self) -> None:
        for line in "".join(self._text).split("\n"):
            if line.strip():
                self.blocks.append({"type": "text", "text": line})
        self._text = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKS or tag == "img":
            self._flush()
        if tag == "img":
            found = dict(attrs)
            self.blocks.append({"type": "image", "alt_text": found.get("alt") or "",
                                "media": [{"url": found.get("src") or "", "type": "image/png", "width": 0, "height": 0}]})

    def handle_endtag(self, tag: str) -> None:
        if tag in _BREAKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_blocks(body: str) -> list[Block]:
    parser = _BodyParser()
    parser.feed(body)
    parser.close()
    return parser.blocks


def image_url(block: Block) -> str | None:
    """The URL to read an NPF image block from: the original size, else the widest one offered.

    NPF lists one media object per size, and not always largest first; OCR wants the most pixels.
    """
    media = [m for m in block.get("media") or [] if isinstance(m, dict) and m.get("url")]
    if not media:
        return None
    original = [m for m in media if m.get("has_original_dimensions")]
    return str((original or sorted(media, key=lambda m: -int(m.get("width") or 0)))[0]["url"])


def post_blocks(post: dict[str, Any]) -> list[Block]:
    """The blocks of a post in either format: NPF (a reblog's trail, oldest first, then its own
    `content`), or legacy photos/body/caption (a legacy body already holds the trail as HTML)."""
    if isinstance(post.get("content"), list):
        trail = [block for item in post.get("trail") or [] if isinstance(item, dict)
                 for block in item.get("content") or []]
        return trail + list(post["content"])
    blocks: list[Block] = []
    for photo in post.get("photos") or []:
        original = photo.get("original_size") or {}
        blocks.append({"type": "image", "alt_text": photo.get("caption") or "",
                       "media": [{"url": original.get("url", ""), "width": original.get("width", 0),
                                  "height": original.get("height", 0)}]})
    # text and photo posts, and asks: the question is plain text, the answer HTML
    if isinstance(post.get("question"), str):
        blocks += [{"type": "text", "text": line} for line in post["question"].split("\n") if line.strip()]
    for key in ("body", "caption", "answer"):
        if isinstance(post.get(key), str):
            blocks += html_to_blocks(post[key])
    return blocks
