"""Reading font-drawn text with the real tesseract: sizes, polarity, filters, animations, batches."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ocr.fontrender import available_fonts, render_text
from ocr.imageio import NotAnImageError
import ocr.reader as reader_module
from ocr.reader import MIN_LEVELLED_LETTER_PX, OcrEngineError, Reader, level_ground, prepare
from ocr.scoring import exact_match
from tests.ocr.conftest import png_bytes


def _font(px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(available_fonts()[0]), px)


@pytest.mark.parametrize(
    ("text", "size", "font_px"),
    [
        ("STOP", 64, None),  # a base-model-sized image: 64 px
        ("Open 24 hours", 128, 18),
        ("NO PARKING\nany time", 256, 30),
        ("Gate 17, level 3", 512, 40),
    ],
)
def test_reads_rendered_text_at_several_sizes(reader: Reader, text: str, size: int, font_px: int | None) -> None:
    reading = reader.read(render_text(text, size, max_font_px=font_px))
    assert exact_match(text, reading.text), reading
    assert all(line.confidence >= reader.min_line_confidence for line in reading.lines)


def test_boxes_are_in_original_image_pixels(reader: Reader) -> None:
    reading = reader.read(render_text("HELLO", 256, max_font_px=40))
    [line] = reading.lines
    assert (reading.width, reading.height) == (256, 256)
    assert 60 < line.box.left < 128 < line.box.right < 196  # centred text, about 130 px wide
    assert 100 < line.box.top < 128 < line.box.bottom < 156


def test_light_text_on_dark_ground(reader: Reader) -> None:
    image = ImageOps.invert(render_text("NIGHT BUS", 256, max_font_px=36))
    assert reader.read(image).text == "NIGHT BUS"


def test_transparent_png_with_black_text(reader: Reader) -> None:
    image = Image.new("RGBA", (256, 128), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((30, 40), "CLEAR", fill=(0, 0, 0, 255), font=_font(40))
    assert reader.read(png_bytes(image)).text == "CLEAR"


def test_blank_image_reads_as_no_text(reader: Reader) -> None:
    reading = reader.read(Image.new("RGB", (256, 256), (200, 200, 200)))
    assert reading.text == "" and reading.lines == () and reading.ignored == ()


def test_confidence_threshold_moves_lines_to_ignored() -> None:
    strict = Reader(min_line_confidence=100, workers=1)
    reading = strict.read(render_text("WET PAINT", 256, max_font_px=36))
    assert reading.text == ""
    assert [line.text for line in reading.ignored] == ["WET PAINT"]


def test_text_tucked_into_a_corner_is_ignored(reader: Reader) -> None:
    image = render_text("MAIN TEXT", 512, max_font_px=28)
    # a watermark whose box (about 423..505 x 495..506) lies in the bottom 5 % strip and reaches the right one
    ImageDraw.Draw(image).text((422, 487), "wm.com", fill=(20, 20, 20), font=_font(20))
    reading = reader.read(image)
    assert reading.text == "MAIN TEXT"
    assert "wm.com" in [line.text for line in reading.ignored]
    assert "wm.com" in Reader(corner_margin=0, workers=1).read(image).text


def test_animated_gif_frames_are_read_and_merged(reader: Reader) -> None:
    hello, goodbye = (render_text(t, 256, max_font_px=40) for t in ("HELLO", "GOODBYE"))
    # the same caption shifted a little (identical frames would be collapsed by the GIF encoder), then a
    # second caption lower down
    shift = (1, 0, 0, 0, 1, -3)
    frames = [hello, hello.transform(hello.size, Image.AFFINE, shift), goodbye.transform(goodbye.size, Image.AFFINE, (1, 0, 0, 0, 1, -70))]
    data = png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    reading = reader.read(data)
    assert reading.frames == 3
    assert reading.text == "HELLO\nGOODBYE"


def test_parallel_batch_matches_serial(reader: Reader) -> None:
    images = [render_text(t, 128, max_font_px=24) for t in ("ONE", "TWO 2", "three")]
    parallel = reader.read_many(images)
    assert [r.text for r in parallel] == ["ONE", "TWO 2", "three"]
    assert [r.text for r in reader.read_many(images, parallel=False)] == [r.text for r in parallel]


def test_parallel_batch_reports_bad_input_by_its_own_error(reader: Reader) -> None:
    with pytest.raises(NotAnImageError):
        reader.read_many([render_text("OK", 64), b"plain text, not an image"])


def test_missing_tesseract_is_an_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrEngineError, match="not installed"):
        Reader(workers=1).read(render_text("X", 64))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_line_confidence": 101}, "min_line_confidence"),
        ({"corner_margin": 0.5}, "corner_margin"),
        ({"workers": 0}, "workers"),
        ({"max_frames": 0}, "max_frames"),
    ],
)
def test_reader_settings_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Reader(**kwargs)


def test_stacked_reading_splits_lines_back_to_their_images(reader: Reader) -> None:
    images = [
        render_text("FIRST", 128, max_font_px=24),
        Image.new("RGB", (96, 96), "white"),  # nothing to read: must stay empty, not shift the others
        render_text("second one\nline two", 256, max_font_px=30),
    ]
    stacked = reader.read_stacked(images)
    assert [r.text for r in stacked] == ["FIRST", "", "second one\nline two"]
    assert [r.text for r in reader.read_stacked(images, parallel=True)] == [r.text for r in stacked]
    assert [(r.width, r.height) for r in stacked] == [(128, 128), (96, 96), (256, 256)]
    separate = reader.read(images[2])
    for a, b in zip(stacked[2].lines, separate.lines):
        assert abs(a.box.top - b.box.top) <= 2 and abs(a.box.left - b.box.left) <= 2


def test_stacks_taller_than_tesseract_allows_are_split(reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    images = [render_text(text, 128, max_font_px=24) for text in ("ONE", "TWO", "THREE")]
    heights = [prepare(image).image.height for image in images]
    monkeypatch.setattr(reader_module, "MAX_STACK_HEIGHT", heights[0] + heights[1])  # room for two images
    assert reader_module._fit_stacks([0, 1, 2], heights) == [[0, 1], [2]]
    assert [r.text for r in reader.read_stacked(images)] == ["ONE", "TWO", "THREE"]


def test_fit_stacks_gives_an_over_tall_image_a_stack_of_its_own() -> None:
    tall = reader_module.MAX_STACK_HEIGHT + 1
    assert reader_module._fit_stacks([0, 2, 5], [10, tall, 10]) == [[0], [2], [5]]
    assert reader_module._fit_stacks([], []) == []


def test_read_each_puts_each_bad_inputs_error_in_its_place(reader: Reader) -> None:
    outcomes = reader.read_each([render_text("GOOD", 128, max_font_px=30), b"", b"not an image"])
    assert outcomes[0].text == "GOOD"
    assert [type(o).__name__ for o in outcomes[1:]] == ["EmptyImageError", "NotAnImageError"]


def _across_a_seam(text: str) -> Image.Image:
    """Dark letters written across a photo's seam of green hill over brown earth (`imagine --where bottom`)."""
    image = Image.new("RGB", (440, 112), (150, 120, 90))
    ImageDraw.Draw(image).rectangle((0, 0, 440, 40), fill=(70, 130, 60))
    ImageDraw.Draw(image).text((40, 28), text, fill=(35, 35, 35), font=_font(30))
    return image


def test_letters_across_a_seam_of_ground_are_read_by_the_photo_box_reader(reader: Reader) -> None:
    """One threshold splits hill from earth, not letters from ground; the photo-box reader levels the
    ground of a box that read as nothing and reads it again."""
    image = _across_a_seam("FRESH BREAD")
    assert reader.read(image).text == ""  # what the picture-wide rule makes of it
    assert reader.for_photo_boxes().read(image).text == "FRESH BREAD"


def test_levelling_the_ground_finds_no_letters_in_a_plain_seam_or_fine_grain(reader: Reader) -> None:
    assert reader.for_photo_boxes().read(_across_a_seam("")).text == ""
    grain = np.clip(np.random.default_rng(0).normal(128, 8, (112, 440, 3)), 0, 255).astype(np.uint8)
    levelled = level_ground(Image.fromarray(grain), dark_letters=True)
    assert prepare(levelled, reader.target_letter_px, MIN_LEVELLED_LETTER_PX) is None  # specks, not letters: never read


def test_a_levelled_ground_is_white_with_the_letters_dark_whichever_their_polarity() -> None:
    dark = np.asarray(level_ground(_across_a_seam("AB"), dark_letters=True))
    light = np.asarray(level_ground(ImageOps.invert(_across_a_seam("AB")), dark_letters=False))
    for levelled in (dark, light):
        assert np.median(levelled) == 255  # hill and earth alike
        assert levelled.min() <= 195  # the strokes, 60 grey levels and more below the ground
