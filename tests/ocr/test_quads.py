"""Reading a picture block by block, where its layout put the text (ocr.quads, Reader.read_in_quads)."""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ocr.fontrender import available_fonts
from ocr.policy import OcrSettings
from generation.layout import box_quad
from ocr.quads import crop_quad
from ocr.reader import Reader
from ocr.rerank import Candidate, rejection_sample
from PIL import ImageFont


def _two_grounds() -> Image.Image:
    """Dark letters on a light card at the top, light letters on a dark band below: no one
    threshold and polarity fits both."""
    picture = Image.new("RGB", (256, 256), (235, 232, 225))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 128, 256, 256), fill=(30, 35, 60))
    font = ImageFont.truetype(str(available_fonts()[0]), 26)
    draw.text((20, 40), "BREAD", font=font, fill=(25, 25, 25))
    draw.text((20, 170), "OPEN LATE", font=font, fill=(240, 240, 240))
    return picture


QUADS = (box_quad((0.04, 0.10, 0.9, 0.30)), box_quad((0.04, 0.62, 0.9, 0.82)))


def test_each_block_is_read_on_its_own_ground_in_reading_order(reader: Reader) -> None:
    reading = reader.read_in_quads([(_two_grounds(), QUADS)], parallel=False)[0]
    assert reading.text == "BREAD\nOPEN LATE"
    assert (reading.width, reading.height) == (256, 256)
    first, second = reading.lines
    assert 15 <= first.box.left <= 30 and 35 <= first.box.top <= 55  # boxes in the picture's pixels
    assert second.box.top > 160


def test_a_batch_of_pictures_reads_in_parallel_in_order(reader: Reader) -> None:
    flipped = _two_grounds().transpose(Image.Transpose.FLIP_TOP_BOTTOM).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    readings = reader.read_in_quads([(_two_grounds(), QUADS), (flipped, QUADS[:1])])
    assert [r.text for r in readings] == ["BREAD\nOPEN LATE", "BREAD"]


def test_what_lies_outside_a_quad_is_painted_with_its_ground() -> None:
    picture = Image.new("L", (100, 100), 200)
    ImageDraw.Draw(picture).rectangle((0, 0, 100, 20), fill=0)  # a dark neighbour along the top
    triangle = ((0.1, 0.1), (0.9, 0.1), (0.5, 0.9), (0.5, 0.9))
    crop, corner = crop_quad(picture, triangle)
    assert corner == (10, 10) and crop.size == (80, 80)
    pixels = np.asarray(crop)
    assert pixels[70, 2] >= 250 and pixels[70, 77] >= 250  # outside the triangle: the ground, stretched to white
    assert pixels[5, 40] == 0  # inside it: the picture, contrast stretched


def test_a_block_on_a_mid_grey_ground_is_read():
    """The model's cards are often mid-tone: a grey ground beside the stack's white canvas was read as
    ink and the block came back empty, until each block was stretched to the full range."""
    picture = Image.new("RGB", (256, 256), (120, 110, 60))
    font = ImageFont.truetype(str(available_fonts()[0]), 22)
    draw = ImageDraw.Draw(picture)
    draw.text((20, 14), "dril", font=font, fill=(235, 235, 225))
    draw.multiline_text((20, 60), "i will never\napologize for the\nthings i have", font=font, fill=(235, 235, 225))
    quads = (box_quad((0.04, 0.03, 0.3, 0.17)), box_quad((0.04, 0.2, 0.9, 0.6)))  # a narrow block above a wide one
    reading = Reader(workers=1).read_in_quads([(picture.filter(ImageFilter.GaussianBlur(1)), quads)], parallel=False)[0]
    assert reading.text == "dril\ni will never\napologize for the\nthings i have"
    assert crop_quad(picture, ((1.2, 1.2), (1.5, 1.2), (1.5, 1.5), (1.2, 1.5))) is None  # off the picture


def test_a_block_under_the_confidence_floor_is_ignored_not_read() -> None:
    strict = Reader(min_block_confidence=100, workers=1)
    reading = strict.read_in_quads([(_two_grounds(), QUADS)], parallel=False)[0]
    assert reading.text == "" and [line.text for line in reading.ignored] == ["BREAD", "OPEN LATE"]


class _QuadSpy(Reader):
    """The real reader, recording which way each batch was read."""

    calls: list[str] = []

    def read_many(self, sources, *, parallel=True):  # noqa: ANN001, ANN201
        self.calls.append("whole")
        return super().read_many(sources, parallel=parallel)

    def read_in_quads(self, items, *, parallel=True):  # noqa: ANN001, ANN201
        self.calls.append("quads")
        return super().read_in_quads(items, parallel=parallel)


def test_rejection_sampling_reads_candidates_by_block_when_their_layout_is_known() -> None:
    spy = _QuadSpy(workers=1)
    spy.calls = []
    settings = OcrSettings(parallel_workers=1)
    with_layout = lambda n: [Candidate(_two_grounds(), i, "base", text_quads=QUADS) for i in range(n)]  # noqa: E731
    ranking = rejection_sample("BREAD\nOPEN LATE", 2, with_layout, None, spy, settings)
    assert spy.calls == ["quads"] and ranking.best.score == 1.0 and ranking.best.text == "BREAD\nOPEN LATE"
    spy.calls = []
    without = lambda n: [Candidate(_two_grounds(), i, "base") for i in range(n)]  # noqa: E731
    rejection_sample("BREAD\nOPEN LATE", 2, without, None, spy, settings)
    assert spy.calls == ["whole"]
