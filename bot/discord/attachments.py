"""Fitting result images into one Discord message: at most 10 files under the upload limit.

PNG first (lossless: the point of the picture is crisp text); if the files together exceed the
limit, WebP at falling quality; if even that does not fit, an error naming the sizes rather than a
failed upload. An animated GIF (a tween's result) keeps its format and name: re-encoding it as WebP
would drop the animation in most clients. Also the checks of users' own images for img2img. CPU work:
call these through `asyncio.to_thread` from the event loop.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from generation.request_parsers import png_bytes
from storage.picture_gate import check_picture, mib  # noqa: F401  mib: the byte counts users read, also imported from here

MAX_FILES = 10
WEBP_QUALITIES = (95, 85, 70, 50)
# Multipart framing and the JSON part also count against Discord's limit.
OVERHEAD_BYTES = 64 * 1024
# Start images for img2img: the cascade draws at most 256 px, so keeping more only costs disk and time.
# Before anything is decoded, the picture gate checks the file's structure and its pixels against one cap.
MAX_INIT_SIDE = 1024
UNREADABLE = "the attachment is not an image I can read (PNG, JPEG, WebP or GIF)"


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Picture:
    """A user's image as the job stores it (`png`, `width` x `height`), and the size it had as sent:
    a box the user gave is in the pixels of the picture they have, which may be larger than ours."""

    png: bytes
    width: int
    height: int
    source_width: int
    source_height: int


class TooLargeForDiscord(ValueError):
    """The images cannot be made to fit one message."""


def file_extension(data: bytes) -> str:
    """"gif" for a GIF (a tween's animation), else "png": what the stored bytes are, for the file name."""
    return "gif" if data[:6] in (b"GIF87a", b"GIF89a") else "png"


def pack_images(pngs: list[bytes], *, stem: str, limit_bytes: int) -> list[Upload]:
    """Return uploads named `{stem}-{n}.png|webp|gif` whose sizes sum below `limit_bytes`."""
    if not pngs:
        raise ValueError("no images to upload")
    if len(pngs) > MAX_FILES:
        raise TooLargeForDiscord(f"{len(pngs)} images do not fit one message; Discord allows {MAX_FILES} files")
    budget = limit_bytes - OVERHEAD_BYTES
    originals = [Upload(_name(stem, i, len(pngs), file_extension(data)), data) for i, data in enumerate(pngs)]
    uploads = originals
    if _total(uploads) <= budget:
        return uploads
    for quality in WEBP_QUALITIES:
        uploads = [_as_webp(upload, quality) for upload in originals]
        if _total(uploads) <= budget:
            return uploads
    as_webp = f" even as WebP at quality {WEBP_QUALITIES[-1]}" if any(u.filename.endswith(".webp") for u in uploads) else ""
    raise TooLargeForDiscord(f"the images need {_total(uploads)} bytes{as_webp}; the upload limit is {limit_bytes}")


def enlarge_preview(png: bytes, size: int = 256) -> bytes:
    """Scale a low-res preview up with nearest-neighbour pixels: Discord shows a 64 px image as a speck,
    and smoothing would pretend to detail the base stage has not drawn yet."""
    with Image.open(io.BytesIO(png)) as image:
        factor = max(1, size // max(image.size))
        if factor == 1:
            return png
        return png_bytes(image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST))


def to_webp(png: bytes, quality: int) -> bytes:
    with Image.open(io.BytesIO(png)) as image:
        out = io.BytesIO()
        image.save(out, format="WEBP", quality=quality, method=4)
        return out.getvalue()


def to_png(data: bytes, *, max_bytes: int) -> bytes:
    """A user's upload as the PNG an img2img job stores (see `read_picture`)."""
    return read_picture(data, max_bytes=max_bytes).png


def read_picture(data: bytes, *, max_bytes: int) -> Picture:
    """Normalise a user's upload (any format PIL reads) to an RGB PNG of at most MAX_INIT_SIDE pixels a side,
    for img2img, text into a photo and reference pictures; raise ValueError saying what is wrong with it.

    The picture gate reads the file's structure and size before anything is decoded: a few kilobytes of
    PNG can claim 30000x30000 pixels and would take gigabytes to decode.
    """
    check_picture(data, "the image", max_bytes=max_bytes)  # PictureRefused is a ValueError naming the fault
    try:
        image = Image.open(io.BytesIO(data))
    except (OSError, ValueError) as error:
        raise ValueError(UNREADABLE) from error
    with image:
        source_size = image.size  # before draft() shrinks a JPEG: the size the user sees
        image.draft("RGB", (MAX_INIT_SIDE, MAX_INIT_SIDE))  # JPEGs decode straight at a reduced scale
        try:
            image.load()
            rgb = image.convert("RGB")
        except (OSError, Image.DecompressionBombError, ValueError) as error:
            raise ValueError(UNREADABLE) from error
    rgb.thumbnail((MAX_INIT_SIDE, MAX_INIT_SIDE), Image.Resampling.LANCZOS)
    return Picture(png_bytes(rgb), rgb.width, rgb.height, *source_size)


def _as_webp(upload: Upload, quality: int) -> Upload:
    if not upload.filename.endswith(".png"):
        return upload  # a GIF stays as it is
    return Upload(upload.filename.removesuffix(".png") + ".webp", to_webp(upload.data, quality))


def _name(stem: str, index: int, count: int, ext: str) -> str:
    return f"{stem}.{ext}" if count == 1 else f"{stem}-{index + 1}.{ext}"


def _total(uploads: list[Upload]) -> int:
    return sum(len(u.data) for u in uploads)
