"""Steps and reads that many Discord tests share: what the bot's reply looks like, one full request, odd input."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image

from storage.styles import StyleStore
from tests.bot.discord.fake_discord import FakeDiscord, FakeInteraction, FakeUser, RecordedRequest

ORIGINAL = r"/webhooks/\d+/[^/]+/messages/@original"


def original(fake: FakeDiscord, interaction: FakeInteraction) -> dict[str, Any] | None:
    """The interaction's reply message as it stands now (None before the bot answered)."""
    return fake.messages.get(interaction.original_message_id or 0)


def result_of(fake: FakeDiscord, interaction: FakeInteraction) -> dict[str, Any] | None:
    """The reply once it carries the final images. A reply in progress can carry attachments too (the
    base-stage previews), so attachments alone do not mean the result arrived."""
    message = original(fake, interaction)
    if not message or not message["attachments"]:
        return None
    if any(a["filename"].startswith("preview-") for a in message["attachments"]):
        return None
    return message


def followups(fake: FakeDiscord, interaction: FakeInteraction) -> list[RecordedRequest]:
    """Follow-up messages the bot sent for this interaction and Discord accepted."""
    return [r for r in fake.calls("POST", r"/webhooks/\d+/" + interaction.token) if r.status == 200]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def deliver_one(fake: FakeDiscord, user: FakeUser, prompt: str = "BUTTONS", **options: Any) -> tuple[int, int]:
    """Run /imagine until its result is posted; returns (message id, job id)."""
    message, job_id = await delivered(fake, user, "imagine", {"prompt": prompt, **options})
    return int(message["id"]), job_id


async def delivered(fake: FakeDiscord, user: FakeUser, command: str, options: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Run a command that queues one job until its result is posted; returns (message, job id)."""
    interaction = await fake.slash(user, command, options)
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    return message, int(custom_ids(message)[0].rsplit(":", 1)[1])


def png_claiming(width: int, height: int) -> bytes:
    """A few bytes of PNG whose header claims `width`x`height`: a decompression bomb before decoding."""
    buffer = io.BytesIO()
    Image.new("1", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    struct.pack_into(">II", data, 16, width, height)  # IHDR data starts after signature, length, type
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def add_style(styles: StyleStore, name: str, *, method: str = "vectors") -> None:
    """A learned style as `glyphbot style learn` would leave it; the embeddings are the smallest
    safetensors file (the Discord tests' renderer never reads them)."""
    tokens = struct.pack("<Q", 2) + b"{}"
    styles.add(name, "tests", [f"{n:064x}" for n in range(3)], steps=10, loss=0.1, tokens=tokens, model_hash="test",
               method=method)


def picture(width: int, height: int, fmt: str = "PNG") -> bytes:
    """A plain picture to attach, `width` x `height` pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, format=fmt)
    return buffer.getvalue()
