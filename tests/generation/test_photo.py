"""Text written into a box of the user's own photo (generation.photo): box checks, the
square cut-out, the keep mask, pasting back, and the layout inside the box."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from generation.layout import LayoutError
from generation.photo import MIN_BOX_SIDE, MIN_PHOTO_FONT_PX, BoxError, BoxLayout, box_layout, check_box, plan_photo
from generation.types import BOX_PLACES, box_for_place


def _photo(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _outside(mask_shape: tuple[int, int], box) -> np.ndarray:
    x, y, w, h = box
    outside = np.ones(mask_shape, bool)
    outside[y : y + h, x : x + w] = False
    return outside


# ------------------------------------------------------------------ check_box


@pytest.mark.parametrize("box, message", [
    ((150, 10, 60, 30), r"reaches past the picture's right edge \(200 px wide\)"),
    ((10, 90, 60, 40), r"reaches past the picture's bottom edge \(120 px high\)"),
    ((-1, 10, 60, 30), "starts outside the picture"),
    ((10, -5, 60, 30), "starts outside the picture"),
    ((10, 10, 15, 30), f"15x30 px; a box needs at least {MIN_BOX_SIDE} px a side"),
    ((10, 10, 60, 3), "60x3 px"),
    ((10, 10, 0, 0), "0x0 px"),
])
def test_check_box_refuses_boxes_that_do_not_fit(box, message):
    with pytest.raises(BoxError, match=message):
        check_box(200, 120, box)


def test_check_box_takes_boxes_up_to_the_edges():
    check_box(200, 120, (0, 0, 200, 120))
    check_box(200, 120, (184, 104, 16, 16))


@pytest.mark.parametrize("size", [(10, 200), (5000, 300)])
def test_check_box_refuses_photos_of_unusable_sizes(size):
    with pytest.raises(BoxError, match="photos from 16 to 4096 px"):
        check_box(*size, (0, 0, 16, 16))


@pytest.mark.parametrize("place", BOX_PLACES)
def test_every_place_word_is_a_box_inside_the_photo(place):
    box = box_for_place(640, 480, place)
    check_box(640, 480, box)
    assert box[2] > 560 and box[3] < 160


# ------------------------------------------------------------------ the plan


@pytest.mark.parametrize("size, box", [
    ((400, 300), (150, 100, 80, 40)),  # context fits inside the photo
    ((400, 300), (0, 0, 60, 30)),  # corner
    ((400, 300), (350, 260, 50, 40)),  # opposite corner
    ((300, 300), (10, 10, 280, 280)),  # nearly the whole photo
    ((300, 100), (10, 20, 280, 60)),  # a band wider than the photo is high
    ((100, 300), (20, 10, 60, 280)),  # and the portrait case
])
def test_the_cut_out_is_square_and_holds_the_box(size, box):
    plan = plan_photo(_photo(*size), box)
    left, top, right, bottom = plan.cut_out
    assert right - left == bottom - top
    x, y, w, h = box
    assert left <= x and top <= y and x + w <= right and y + h <= bottom
    assert right - left >= max(w, h)


def test_a_band_wider_than_the_photo_is_high_reaches_past_it_and_keeps_nothing_there():
    plan = plan_photo(_photo(300, 100), (10, 20, 280, 60))
    left, top, right, bottom = plan.cut_out
    assert (left, right) == (0, 300)  # the full width, not squeezed
    assert top < 0 < 100 < bottom
    pixels, keep = plan.known(256)
    assert pixels.shape == (1, 3, 256, 256) and keep.shape == (1, 1, 256, 256)
    scale = 256 / (bottom - top)
    photo_rows = range(int(np.ceil(-top * scale)), int((100 - top) * scale))
    outside_rows = [row for row in range(256) if row not in photo_rows]
    assert outside_rows and keep[0, 0, outside_rows].sum() == 0  # past the photo: the model draws freely
    assert keep.sum() > 0  # the photo's own pixels above and below the box are kept


def test_the_keep_mask_is_zero_over_the_box_and_one_around_it():
    plan = plan_photo(_photo(400, 400), (150, 180, 100, 40))
    left, top, right, bottom = plan.cut_out
    _, keep = plan.known(64)
    scale = 64 / (right - left)
    x0, x1 = (150 - left) * scale, (250 - left) * scale
    y0, y1 = (180 - top) * scale, (220 - top) * scale
    assert keep[0, 0, int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))].sum() == 0
    assert keep[0, 0, :max(int(y0) - 2, 0)].min() == 1 and keep[0, 0, int(np.ceil(y1)) + 2 :].min() == 1
    assert keep[0, 0, :, : max(int(x0) - 2, 0)].min() == 1


def test_known_pixels_are_the_cut_out_of_the_photo():
    photo = Image.new("RGB", (200, 200), (255, 0, 0))
    pixels, _ = plan_photo(photo, (50, 50, 60, 30)).known(16)
    torch.testing.assert_close(pixels[0, :, 0, 0], torch.tensor([1.0, -1.0, -1.0]))
    assert pixels.min() >= -1 and pixels.max() <= 1


@pytest.mark.parametrize("size, box", [((200, 150), (40, 50, 90, 40)), ((300, 100), (10, 20, 280, 60))])
def test_composite_changes_only_the_box(size, box):
    photo = _photo(*size, seed=1)
    plan = plan_photo(photo, box)
    drawn = _photo(32, 32, seed=2)
    result = plan.composite(drawn)
    assert result.size == photo.size and result.mode == "RGB"
    before, after = np.asarray(photo), np.asarray(result)
    outside = _outside(before.shape[:2], box)
    assert np.array_equal(before[outside], after[outside])
    x, y, w, h = box
    assert not np.array_equal(before[y : y + h, x : x + w], after[y : y + h, x : x + w])
    assert plan.box_region(result).size == (w, h)
    assert np.array_equal(np.asarray(plan.box_region(result)), after[y : y + h, x : x + w])


def test_plan_photo_refuses_a_box_outside_and_converts_the_photo():
    with pytest.raises(BoxError, match="right edge"):
        plan_photo(_photo(100, 100), (50, 0, 60, 20))
    plan = plan_photo(Image.new("L", (100, 100), 128), (10, 10, 50, 30))
    assert plan.photo.mode == "RGB"


# ------------------------------------------------------------------ the layout in the box


def test_a_box_too_small_for_the_text_is_a_box_error():
    plan = plan_photo(_photo(400, 400), (10, 10, 40, 20))
    with pytest.raises(BoxError, match=rf"too small for this text.*at least {MIN_PHOTO_FONT_PX} px"):
        box_layout(plan, "HELLO WORLD, THIS IS A LONG LINE", seed=0)


def test_an_empty_text_has_nothing_to_write():
    plan = plan_photo(_photo(200, 200), (10, 10, 120, 60))
    with pytest.raises(LayoutError, match="empty"):
        box_layout(plan, "  \n ", seed=0)


def test_an_unknown_font_is_refused():
    plan = plan_photo(_photo(200, 200), (10, 10, 120, 60))
    with pytest.raises(LayoutError, match="unknown font"):
        box_layout(plan, "SALE", seed=0, font="NoSuchFont")


def test_normal_text_fits_and_the_seed_picks_reproducibly():
    plan = plan_photo(_photo(512, 400), (300, 200, 120, 50))
    layout = box_layout(plan, "SALE  \n 50%", seed=3)
    assert isinstance(layout, BoxLayout)
    assert layout.text == "SALE\n50%"
    assert MIN_PHOTO_FONT_PX <= layout.font_px <= 50
    assert layout == box_layout(plan, "SALE\n50%", seed=3)
    pinned = box_layout(plan, "SALE", seed=3, font="DejaVuSans", align="right")
    assert pinned.font.endswith("DejaVuSans.ttf") and pinned.align == "right"


@pytest.mark.parametrize("size, box", [((512, 400), (300, 200, 120, 50)), ((300, 100), (10, 20, 280, 60))])
@pytest.mark.parametrize("align", ["left", "center", "right"])
def test_the_glyph_map_has_ink_inside_the_box_only(size, box, align):
    plan = plan_photo(_photo(*size), box)
    layout = box_layout(plan, "SALE", seed=0, font="DejaVuSans-Bold", align=align)
    glyph = layout.glyph_map(64)
    assert glyph.shape == (64, 64) and glyph.dtype == np.float32
    assert 0 <= glyph.min() and glyph.max() <= 1
    left, top, right, _ = plan.cut_out
    scale = 64 / (right - left)
    x, y, w, h = box
    inside = np.zeros((64, 64), bool)
    inside[max(int((y - top) * scale) - 1, 0) : int(np.ceil((y + h - top) * scale)) + 1,
           max(int((x - left) * scale) - 1, 0) : int(np.ceil((x + w - left) * scale)) + 1] = True
    assert glyph[inside].sum() > 10
    assert glyph[~inside].max() < 0.05


def test_a_hard_paste_and_the_fade_differ_only_inside_the_box():
    from generation.photo_benchmark import edge_step

    photo = Image.fromarray(np.full((64, 96, 3), 40, np.uint8))
    plan = plan_photo(photo, (20, 16, 40, 30))
    drawn = Image.new("RGB", (256, 256), (240, 240, 240))
    hard, faded = plan.composite(drawn, feather=0), plan.composite(drawn)
    outside = np.ones((64, 96), bool)
    outside[16:46, 20:60] = False
    assert np.array_equal(np.asarray(hard)[outside], np.asarray(photo)[outside])
    assert np.array_equal(np.asarray(faded)[outside], np.asarray(photo)[outside])
    assert edge_step(hard, plan.box) == pytest.approx(200, abs=1)
    assert edge_step(faded, plan.box) < 100
    assert edge_step(photo, plan.box) == 0
