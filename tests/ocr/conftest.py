"""Shared helpers for the OCR tests: a reader and images drawn with real fonts."""

import io
import shutil
import struct
import zlib

import pytest
from PIL import Image

from ocr.reader import Reader

if shutil.which("tesseract") is None:  # the reader tests need the real engine; say so rather than fail oddly
    pytest.skip("tesseract-ocr is not installed (apt-get install tesseract-ocr)", allow_module_level=True)


@pytest.fixture(scope="session")
def reader() -> Reader:
    return Reader(workers=2)


def png_bytes(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`×`height` but carries no pixels: a decompression bomb's shape."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
