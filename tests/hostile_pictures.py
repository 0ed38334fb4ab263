"""Hostile pictures for the tests of every way a picture comes in (issue 22): each one small, built in
memory, and each one something the gate (storage.picture_gate) must refuse before a pixel is decoded.

`hostile_files(folder)` also lays out what only a path can be: /dev/zero, a FIFO, a directory.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from pathlib import Path

from PIL import Image


def encoded(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def textured(width: int = 48, height: int = 32) -> Image.Image:
    """A picture with some texture, so its bytes are not trivially compressible; the same every call."""
    return Image.frombytes("RGB", (width, height), random.Random(width * 7919 + height).randbytes(width * height * 3))


def good_png(width: int = 48, height: int = 32) -> bytes:
    return encoded(textured(width, height))


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int, pixels: bytes = b"\x00\x00") -> bytes:
    """A PNG whose header claims width×height over a few bytes of pixel data: a bomb's shape."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def zlib_bomb(side: int, height: int | None = None) -> bytes:
    """A real decompression bomb: a side×side (or side×height) black grey PNG, a few KB compressed."""
    height = side if height is None else height
    row = bytes(side + 1)
    compressor = zlib.compressobj(9)
    stream = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")


def bad_crc(data: bytes) -> bytes:
    """The PNG with one byte of its pixel data flipped (its IDAT's CRC no longer matches)."""
    position = data.index(b"IDAT") + 8
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose one frame is width×height: the screen grows to fit it, as decoders do."""
    frame = struct.pack("<BHHHHB", 0x2C, 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0, 0, 0) + frame + b"\x3b"


def webp_claiming(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP whose canvas is width×height."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    lossless = b"VP8L" + struct.pack("<I", 6) + b"\x2f" + struct.pack("<I", 0) + b"\x00"
    body = b"WEBP" + vp8x + lossless
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tiff_claiming(width: int, height: int) -> bytes:
    """A little-endian TIFF whose first directory says width×height."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (262, 3, 1, 1), (273, 4, 1, 0), (279, 4, 1, 0)]
    directory = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *entry) for entry in entries) + bytes(4)
    return b"II*\x00" + struct.pack("<I", 8) + directory


def hostile_pictures() -> dict[str, bytes]:
    """Name -> bytes of every hostile picture the entry points are tested with."""
    good = good_png()
    jpeg = encoded(textured(), "JPEG")
    return {
        "truncated": good[: len(good) // 2],
        "bad-crc": bad_crc(good),
        "zero-by-zero": png_claiming(0, 0),
        "bomb-header": png_claiming(20000, 20000),
        "bomb-zlib": zlib_bomb(4200),
        "short-pixel-data": png_claiming(64, 64),
        "gif-huge": gif_claiming(65535, 65535),
        "webp-huge": webp_claiming(16384, 16384),
        "tiff-huge": tiff_claiming(100000, 100000),
        "jpeg-truncated": jpeg[: len(jpeg) // 2],
        "not-a-picture": b"hello, I am text",
        "empty": b"",
    }


def hostile_files(folder: Path) -> dict[str, Path]:
    """Name -> path of each hostile picture as a file, plus /dev/zero, a FIFO and a directory."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in hostile_pictures().items():
        paths[name] = folder / f"{name}.png"
        paths[name].write_bytes(data)
    paths["dev-zero"] = Path("/dev/zero")
    paths["fifo"] = folder / "fifo.png"
    os.mkfifo(paths["fifo"])
    paths["directory"] = folder / "folder.png"
    paths["directory"].mkdir()
    return paths
