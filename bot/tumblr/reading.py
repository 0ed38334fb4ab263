"""How the bot "sees" posts it reads: every image becomes its OCR transcript in the `=======` format.

An image is read once. The cache (`tumblr_readings`) is looked up by URL before anything is
downloaded, then by the SHA-256 of the downloaded bytes, so a picture reblogged under a new URL is
not read again either. The image's own alt text, when it has one, becomes the caption of the
caption variant, so the text generator sees both what the image says and what it shows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.tumblr.client import TumblrApi
from bot.tumblr.legacy import image_url, post_blocks
from bot.tumblr.models import TumblrReadingRow
from ocr.transcripts import DELIMITER, format_transcript
from storage.db import Database
from storage.types import utcnow

MAX_IMAGE_BYTES = 20 * 1024 * 1024
DOWNLOAD_TIMEOUT_S = 30.0

ReadImage = Callable[[bytes], str]
FetchImage = Callable[[str], bytes]


class ImageUnavailable(Exception):
    """The image could not be downloaded (gone, too large, network); the post is read without it."""


def fetch_image(url: str) -> bytes:
    """Download an image, refusing anything over MAX_IMAGE_BYTES before it fills memory."""
    try:
        with requests.get(url, timeout=DOWNLOAD_TIMEOUT_S, stream=True) as response:
            if response.status_code != 200:
                raise ImageUnavailable(f"{url}: HTTP {response.status_code}")
            data = bytearray()
            for chunk in response.iter_content(65536):
                data += chunk
                if len(data) > MAX_IMAGE_BYTES:
                    raise ImageUnavailable(f"{url}: larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
            return bytes(data)
    except requests.RequestException as error:
        raise ImageUnavailable(f"{url}: {type(error).__name__}") from error


def tesseract_reader() -> ReadImage:
    """The production reader: ocr.reader's tesseract pipeline, text lines joined by newlines.

    Bytes that are not an image we can decode read as no text (a text-less image), not as an error:
    the post around them is still worth reading.
    """
    from ocr.imageio import ImageReadError
    from ocr.reader import Reader

    reader = Reader(workers=1)

    def read(data: bytes) -> str:
        try:
            return reader.read(data).text
        except ImageReadError:
            return ""

    return read


def _safe_lines(text: str) -> str:
    """Text fit to sit inside a block: no line may be a delimiter (it would end the block early)."""
    return "\n".join(line for line in text.split("\n") if line.strip(" \t\r") != DELIMITER)


def _caption(alt_text: str) -> str | None:
    """Alt text as a one-line caption; captions may hold neither blank lines nor delimiters."""
    one_line = re.sub(r"\s+", " ", alt_text).strip().replace(DELIMITER, "=")
    return one_line or None


class PostReader:
    """Turns posts (NPF or legacy JSON) into the bot's text, reading each image at most once."""

    def __init__(self, db: Database, read: ReadImage, fetch: FetchImage = fetch_image,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.read = read
        self.fetch = fetch
        self.clock = clock

    def transcript(self, url: str) -> str:
        """The text in the image at `url`, from the cache when it was read before. Blocking."""
        with self.db.read() as session:
            cached = session.scalar(select(TumblrReadingRow.transcript).where(TumblrReadingRow.url == url))
        if cached is not None:
            return cached
        data = self.fetch(url)
        digest = hashlib.sha256(data).hexdigest()
        with self.db.read() as session:
            text = session.scalar(select(TumblrReadingRow.transcript).where(TumblrReadingRow.sha256 == digest).limit(1))
        if text is None:
            text = _safe_lines(self.read(data))
        try:
            with self.db.write() as session:
                session.add(TumblrReadingRow(url=url, sha256=digest, transcript=text, created_at=self.clock()))
        except IntegrityError:
            pass  # another reader cached the same URL meanwhile; both read the same image
        return text

    def post_text(self, post: dict[str, Any]) -> str:
        """The post as the bot's text: prose lines as they are, each image as its transcript block."""
        parts: list[str] = []
        for block in post_blocks(post):
            if block.get("type") == "text":
                parts.append(_safe_lines(str(block.get("text", ""))) + "\n")
            elif block.get("type") == "image" and (url := image_url(block)) is not None:
                try:
                    text = self.transcript(url)
                except ImageUnavailable:
                    text = "[image]"
                parts.append(format_transcript(text, _caption(str(block.get("alt_text") or ""))))
        return "".join(parts)


async def read_posts(api: TumblrApi, reader: PostReader, source: str = "dashboard", limit: int = 20) -> list[tuple[int, str]]:
    """(post id, the post as the bot's text) for the newest posts of `source` ("dashboard" or
    "submissions", where asks arrive), with every image read off the event loop."""
    if source == "dashboard":
        posts = await asyncio.to_thread(api.dashboard, limit)
    elif source == "submissions":
        posts = (await asyncio.to_thread(api.submissions))[:limit]
    else:
        raise ValueError(f"source must be 'dashboard' or 'submissions', not {source!r}")
    return [(int(post["id"]), await asyncio.to_thread(reader.post_text, post)) for post in posts]
