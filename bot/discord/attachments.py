"""Fitting result images into one Discord message: at most 10 files under the upload limit.

PNG first (lossless: the point of the picture is crisp text); if the files together exceed the
limit, WebP at falling quality; if even that does not fit, an error naming the sizes rather than a
failed upload. CPU work: call it through `asyncio.to_thread` from the event loop.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

MAX_FILES = 10
WEBP_QUALITIES = (95, 85, 70, 50)
# Multipart framing and the JSON part also count against Discord's limit.
OVERHEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


class TooLargeForDiscord(ValueError):
    """The images cannot be made to fit one message."""


def pack_images(pngs: list[bytes], *, stem: str, limit_bytes: int) -> list[Upload]:
    """Return uploads named `{stem}-{n}.png|webp` whose sizes sum below `limit_bytes`."""
    if not pngs:
        raise ValueError("no images to upload")
    if len(pngs) > MAX_FILES:
        raise TooLargeForDiscord(f"{len(pngs)} images do not fit one message; Discord allows {MAX_FILES} files")
    budget = limit_bytes - OVERHEAD_BYTES
    uploads = [Upload(_name(stem, i, len(pngs), "png"), data) for i, data in enumerate(pngs)]
    if _total(uploads) <= budget:
        return uploads
    for quality in WEBP_QUALITIES:
        uploads = [Upload(_name(stem, i, len(pngs), "webp"), to_webp(data, quality)) for i, data in enumerate(pngs)]
        if _total(uploads) <= budget:
            return uploads
    raise TooLargeForDiscord(
        f"the images need {_total(uploads)} bytes even as WebP at quality {WEBP_QUALITIES[-1]}; the upload limit is {limit_bytes}"
    )


def enlarge_preview(png: bytes, size: int = 256) -> bytes:
    """Scale a low-res preview up with nearest-neighbour pixels: Discord shows a 64 px image as a speck,
    and smoothing would pretend to detail the base stage has not drawn yet."""
    with Image.open(io.BytesIO(png)) as image:
        factor = max(1, size // max(image.size))
        if factor == 1:
            return png
        out = io.BytesIO()
        image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST).save(out, format="PNG")
        return out.getvalue()


def to_webp(png: bytes, quality: int) -> bytes:
    with Image.open(io.BytesIO(png)) as image:
        out = io.BytesIO()
        image.save(out, format="WEBP", quality=quality, method=4)
        return out.getvalue()


def to_png(data: bytes, *, max_bytes: int) -> bytes:
    """Normalise a user's upload (any format PIL reads) to PNG for img2img; raise ValueError if unreadable."""
    if len(data) > max_bytes:
        raise ValueError(f"the image is {len(data) / 1048576:.1f} MiB; the limit is {max_bytes / 1048576:.0f} MiB")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            out = io.BytesIO()
            image.convert("RGB").save(out, format="PNG")
            return out.getvalue()
    except (OSError, Image.DecompressionBombError, ValueError) as error:
        raise ValueError("the attachment is not an image I can read (PNG, JPEG, WebP or GIF)") from error


def _name(stem: str, index: int, count: int, ext: str) -> str:
    return f"{stem}.{ext}" if count == 1 else f"{stem}-{index + 1}.{ext}"


def _total(uploads: list[Upload]) -> int:
    return sum(len(u.data) for u in uploads)
