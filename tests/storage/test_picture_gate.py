"""The picture gate alone: every format's structure and size read from the bytes, files read with a cap."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from storage.picture_gate import (
    MAX_PICTURE_PIXELS,
    PictureInfo,
    PictureRefused,
    check_picture,
    read_picture_file,
)
from tests.hostile_pictures import chunk, encoded, hostile_files, hostile_pictures, png_claiming, zlib_bomb

NOISE = Image.effect_noise((37, 23), 70).convert("RGB")


@pytest.mark.parametrize("fmt, image, options", [
    ("png", NOISE, {}), ("png", NOISE.convert("P"), {}), ("png", NOISE.convert("1"), {}), ("png", NOISE.convert("LA"), {}),
    ("png", NOISE.convert("I;16"), {}), ("png", NOISE.convert("RGBA"), {}),
    ("jpeg", NOISE, {}), ("jpeg", NOISE, {"progressive": True}), ("jpeg", NOISE.convert("CMYK"), {}),
    ("gif", NOISE, {}), ("gif", NOISE, {"save_all": True, "append_images": [NOISE.rotate(90)]}),
    ("webp", NOISE, {}), ("webp", NOISE, {"lossless": True}), ("webp", NOISE.convert("RGBA"), {}),
    ("webp", NOISE, {"save_all": True, "append_images": [NOISE.rotate(90)]}),
])
def test_pictures_pil_writes_pass_with_their_size(fmt: str, image: Image.Image, options: dict) -> None:
    info = check_picture(encoded(image, fmt.upper(), **options), "the picture")
    assert (info.format, info.width, info.height) == (fmt, 37, 23)
    assert info.frames == (2 if options.get("save_all") else 1)


def interlaced_png(width: int, height: int) -> tuple[bytes, Image.Image]:
    """An Adam7-interlaced grey PNG (PIL writes none), and the picture it holds."""
    image = Image.effect_noise((width, height), 80).convert("L")
    pixels, stream = image.load(), b""
    for first_x, first_y, step_x, step_y in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        columns = range(first_x, width, step_x)
        for y in range(first_y, height, step_y) if len(columns) else ():
            stream += b"\x00" + bytes(pixels[x, y] for x in columns)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(stream)) + chunk(b"IEND", b"")
    return data, image


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (17, 31)])
def test_an_interlaced_png_is_read_pass_by_pass(size: tuple[int, int]) -> None:
    data, image = interlaced_png(*size)
    assert check_picture(data, "p") == PictureInfo("png", *size)
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.tobytes() == image.tobytes()  # the helper is a real interlaced PNG


@pytest.mark.parametrize("name, message", [
    ("truncated", "the picture is truncated: the file ends inside its IDAT chunk"),
    ("bad-crc", "the picture is corrupt: its IDAT chunk fails its CRC check"),
    ("zero-by-zero", "the picture has no pixels (0×0)"),
    ("bomb-header", "the picture is 20000×20000 pixels (400.0 megapixels); the limit is 16.8 megapixels (4096×4096)"),
    ("bomb-zlib", "the picture is 4200×4200 pixels (17.6 megapixels); the limit is 16.8 megapixels (4096×4096)"),
    ("short-pixel-data", "the picture is truncated: its pixel data ends after 2 of 4160 bytes"),
    ("gif-huge", "the picture is 65535×65535 pixels (4294.8 megapixels); the limit is"),
    ("webp-huge", "the picture is 16384×16384 pixels (268.4 megapixels); the limit is"),
    ("tiff-huge", "the picture is not a PNG, JPEG, GIF or WebP file (TIFF)"),
    ("jpeg-truncated", "the picture is truncated: the file ends inside its image data (no end-of-image marker)"),
    ("not-a-picture", "the picture is not a PNG, JPEG, GIF or WebP file"),
    ("empty", "the picture is empty (0 bytes)"),
])
def test_each_hostile_picture_is_refused_in_one_line_naming_it(name: str, message: str) -> None:
    with pytest.raises(PictureRefused) as refused:
        check_picture(hostile_pictures()[name], "the picture")
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_damage_the_crc_cannot_see_is_found_in_the_stream() -> None:
    """A PNG rebuilt with valid CRCs around a broken zlib stream or an unknown row filter."""
    def png_with_stream(stream: bytes) -> bytes:
        header = struct.pack(">IIBBBBB", 4, 2, 8, 0, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")

    with pytest.raises(PictureRefused, match="its compressed pixel data is damaged"):
        check_picture(png_with_stream(b"\x78\x9c\xff\xff\xff"), "p")
    with pytest.raises(PictureRefused, match="unknown filter type"):
        check_picture(png_with_stream(zlib.compress(b"\x00abcd\x07abcd")), "p")
    assert check_picture(png_with_stream(zlib.compress(b"\x00abcd\x04abcd")), "p").width == 4


def test_the_largest_picture_passes_and_the_cap_is_one_number() -> None:
    side = 4096
    assert side * side == MAX_PICTURE_PIXELS
    assert check_picture(zlib_bomb(side), "p") == PictureInfo("png", side, side)
    with pytest.raises(PictureRefused, match="4097×4096 pixels"):
        check_picture(png_claiming(side + 1, side), "p")


def test_only_the_formats_asked_for_pass_and_bytes_are_capped() -> None:
    with pytest.raises(PictureRefused, match="^the init image is not a PNG file$"):
        check_picture(encoded(NOISE, "GIF"), "the init image", formats=("png",))
    with pytest.raises(PictureRefused, match=r"^the image is 0.6 MiB; the limit is 0.5 MiB$"):
        check_picture(b"\x89PNG" + bytes(600 * 1024), "the image", max_bytes=512 * 1024)


def test_files_are_read_only_when_regular_and_never_past_the_cap(tmp_path: Path) -> None:
    paths = hostile_files(tmp_path)
    expected = {"dev-zero": "/dev/zero is a character device, not a picture file",
                "fifo": f"{paths['fifo']} is a FIFO, not a picture file",
                "directory": f"{paths['directory']} is a directory, not a picture file"}
    for name, message in expected.items():
        with pytest.raises(PictureRefused) as refused:
            read_picture_file(paths[name])
        assert str(refused.value) == message
    with pytest.raises(PictureRefused, match=r"no such file$"):
        read_picture_file(tmp_path / "missing.png")
    big = tmp_path / "big.png"
    big.write_bytes(bytes(1536 * 1024))
    with pytest.raises(PictureRefused, match=r"^--image big.png is larger than the limit of 1 MiB$"):
        read_picture_file(big, "--image big.png", max_bytes=1024 * 1024)
    assert read_picture_file(paths["truncated"]) == hostile_pictures()["truncated"]
