"""Shared helpers for the OCR tests: a reader, images drawn with real fonts, tiny trained checkpoints."""

import io
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app
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


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base/ and sr/ as `glyphbot train` writes them, after two steps each: real checkpoints, untrained.

    They exercise the whole cascade on a CPU in a second; what they draw is noise, so accuracy is ~0.
    """
    root = tmp_path_factory.mktemp("tiny-runs")
    configs = Path(__file__).resolve().parents[2] / "generation" / "configs"
    short_text = ["--max-lines", "1", "--max-chars", "6", "--max-line-chars", "6"]
    stages = {"base": [], "sr": ["--warm-start-base", str(root / "base" / "model")]}
    for stage, extra in stages.items():
        result = CliRunner().invoke(app, [
            "train", stage, "--config", str(configs / f"tiny-{stage}.json"), "--output", str(root / stage),
            "--steps", "2", "--batch-size", "2", "--warmup-steps", "1", *short_text, *extra,
        ])
        assert result.exit_code == 0, result.output
        shutil.copytree(root / stage / "model", root / "checkpoints" / stage)
    return root / "checkpoints"
