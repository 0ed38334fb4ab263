"""Bad image input gets a specific, clear error before tesseract is ever started."""

from pathlib import Path

import pytest
from PIL import Image

from ocr.fontrender import render_text
from ocr.imageio import (
    CorruptImageError,
    EmptyImageError,
    ImageReadError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    load_frames,
)
from tests.ocr.conftest import png_bytes, png_header_only


@pytest.fixture(scope="module")
def good_png() -> bytes:
    return png_bytes(render_text("HELLO", 128))


def test_empty_bytes_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(EmptyImageError, match="empty"):
        load_frames(b"")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(EmptyImageError, match="empty.png"):
        load_frames(empty)


def test_not_an_image(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(NotAnImageError, match="notes.png is not a PNG, JPEG, GIF or WebP file"):
        load_frames(text)
    with pytest.raises(NotAnImageError, match="is a directory, not a picture file"):
        load_frames(tmp_path)
    with pytest.raises(NotAnImageError, match="^/dev/zero is a character device, not a picture file$"):
        load_frames("/dev/zero")


def test_truncated_png(good_png: bytes) -> None:
    with pytest.raises(TruncatedImageError, match="truncated"):
        load_frames(good_png[: len(good_png) // 2])
    with pytest.raises(TruncatedImageError):
        load_frames(good_png[:20])


def test_truncated_jpeg_and_gif() -> None:
    image = render_text("HI", 96)
    for fmt in ("JPEG", "GIF"):
        data = png_bytes(image, fmt)
        with pytest.raises(TruncatedImageError, match="truncated"):
            load_frames(data[: len(data) // 2])


def test_corrupt_png(good_png: bytes) -> None:
    middle = len(good_png) // 2
    damaged = good_png[:middle] + bytes(200) + good_png[middle + 200 :]
    with pytest.raises(CorruptImageError, match="corrupt"):
        load_frames(damaged)


def test_huge_image_is_refused_from_the_header_alone() -> None:
    with pytest.raises(ImageTooLargeError, match=r"is 8000×7000 pixels \(56.0 megapixels\); the limit is 16.8 megapixels"):
        load_frames(png_header_only(8000, 7000))
    with pytest.raises(ImageTooLargeError):
        load_frames(png_header_only(100_000, 100_000))  # past Pillow's own bomb limit too
    with pytest.raises(ImageTooLargeError, match=r"10000x5001 is 50.0 Mpx, over the limit of 16.8 Mpx"):
        load_frames(Image.new("1", (10_000, 5_001)))


def test_every_error_is_an_image_read_error_and_a_value_error() -> None:
    for cls in (EmptyImageError, NotAnImageError, TruncatedImageError, CorruptImageError, ImageTooLargeError):
        assert issubclass(cls, ImageReadError) and issubclass(cls, ValueError)


def test_transparent_background_is_flattened_onto_white() -> None:
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    [frame] = load_frames(png_bytes(rgba))
    assert frame.mode == "RGB" and frame.getpixel((0, 0)) == (255, 255, 255)


def test_animation_frames_are_sampled_evenly() -> None:
    frames = [Image.new("RGB", (16, 16), (i * 20, 0, 0)) for i in range(10)]
    data = png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    loaded = load_frames(data, max_frames=3)
    assert [frame.getpixel((0, 0))[0] for frame in loaded] == [0, 80, 180]  # frames 0, 4 (round half to even of 4.5) and 9
