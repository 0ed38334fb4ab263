import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.data.render import render_text_image
from generation.layout import (
    LayoutError,
    choose_layout,
    find_fonts,
    font_by_name,
    font_name,
    reading_quads,
    stacked_maps,
    uncovered_characters,
)
from generation.templates import lay_out
from generation.tokenizer import PromptError


@pytest.fixture(scope="module")
def fonts():
    return find_fonts()


def test_a_layout_is_deterministic_from_its_seed(fonts):
    first = choose_layout("OPEN\nlate", random.Random(7), fonts)
    again = choose_layout("OPEN\nlate", random.Random(7), fonts)
    other = choose_layout("OPEN\nlate", random.Random(8), fonts)
    assert first == again
    assert first != other
    assert np.array_equal(first.glyph_map(64), again.glyph_map(64))


def test_the_base_and_sr_maps_of_one_layout_agree(fonts):
    layout = choose_layout("HELLO\nWORLD", random.Random(3), fonts)
    small, large = layout.glyph_map(64), layout.glyph_map(256)
    assert small.shape == (64, 64) and large.shape == (256, 256)
    assert 0 <= small.min() and large.max() <= 1 and small.max() > 0.9
    # the 256 px map, averaged down to 64 px, puts its ink where the 64 px map does
    pooled = large.reshape(64, 4, 64, 4).mean(axis=(1, 3))
    assert np.corrcoef(pooled.ravel(), small.ravel())[0, 1] > 0.85


def test_stacked_maps_give_each_candidate_its_own_map_and_a_blank_one_without_a_layout(fonts):
    card = choose_layout("HELLO", random.Random(1), fonts)
    sign = lay_out("STOP", random.Random(2), template="sign")
    glyphs = stacked_maps([card, None, sign], 32)
    assert glyphs.shape == (3, 32, 32) and glyphs.dtype == np.float32
    assert np.array_equal(glyphs[0], card.glyph_map(32)) and np.array_equal(glyphs[2], sign.glyph_map(32))
    assert not glyphs[1].any()
    regions = stacked_maps([sign, None], 32, "region")
    assert np.array_equal(regions[0], sign.region_map(32)) and regions[0].any() and not regions[1].any()
    with pytest.raises(ValueError, match="glyph or region"):
        stacked_maps([card], 32, "letters")


def test_the_training_picture_is_drawn_where_its_glyph_map_says(fonts):
    image, layout = render_text_image("wet paint", 128, random.Random(5), fonts)
    glyph = layout.glyph_map(128)
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    ink, paper = pixels[glyph > 0.8], pixels[glyph < 0.05]
    # text and background differ in lightness by construction (at least 0.4 of the range)
    assert abs(np.median(ink) - np.median(paper)) > 60


def test_font_and_alignment_can_be_pinned(fonts):
    serif = font_by_name("DejaVuSerif", fonts)
    for seed in range(5):
        layout = choose_layout("Room 204", random.Random(seed), fonts, font=serif, align="right")
        assert layout.font == serif and layout.align == "right"
    assert font_name(serif) == "DejaVuSerif"
    assert font_by_name("dejavuserif", fonts) == serif


def test_an_unknown_font_names_the_choices(fonts):
    with pytest.raises(LayoutError, match="unknown font 'Comic'.*DejaVuSans"):
        font_by_name("Comic", fonts)


def test_an_unknown_alignment_is_refused(fonts):
    with pytest.raises(LayoutError, match="alignment must be one of left, center, right"):
        choose_layout("hi", random.Random(0), fonts, align="justify")


def test_text_too_large_to_be_legible_names_the_limit(fonts):
    with pytest.raises(LayoutError, match=r"1 line\(s\), 120 characters.*smaller than 8 px on a 256 px picture.*even word-wrapped"):
        choose_layout("x" * 120, random.Random(0), fonts)
    with pytest.raises(LayoutError, match="40 line"):
        choose_layout("\n".join(["ab"] * 40), random.Random(0), fonts)


def test_characters_no_font_covers_are_named(fonts):
    with pytest.raises(LayoutError, match="no installed font can draw '𓀀'"):
        choose_layout("hi 𓀀", random.Random(0), fonts)
    assert uncovered_characters("hi there", fonts[0]) == ""


def test_a_font_that_lacks_a_character_is_refused_when_pinned(fonts):
    mono = font_by_name("LiberationMono-Regular", fonts)
    # N'Ko digits: DejaVu Sans draws them, Liberation Mono does not
    assert uncovered_characters("ok \u07c0", mono) == "\u07c0"
    assert uncovered_characters("ok \u07c0", font_by_name("DejaVuSans", fonts)) == ""
    with pytest.raises(LayoutError, match="font LiberationMono-Regular cannot draw"):
        choose_layout("ok \u07c0", random.Random(0), fonts, font=mono)
    assert "DejaVu" in choose_layout("ok \u07c0", random.Random(0), fonts).font_name


def test_layout_errors_are_prompt_errors(fonts):
    """Every adapter already refuses PromptError as bad input; layout limits ride on that."""
    assert issubclass(LayoutError, PromptError)


def test_a_glyph_map_draws_nothing_outside_the_canvas(fonts):
    for seed in range(20):
        layout = choose_layout("Lost cat: answers to Mo", random.Random(seed), fonts)
        glyph = layout.glyph_map(256)
        assert glyph[:2].max() < 0.5 and glyph[-2:].max() < 0.5, seed
        Image.fromarray((glyph * 255).astype(np.uint8))  # a valid picture


def test_a_turned_sign_renders_on_even_paper_with_no_dark_corners(fonts):
    """The font-render ceiling turns only the letters: a turned canvas brought in black corners,
    which OCR read as "|" beside every sign."""
    layout = lay_out("STOP", random.Random(0), template="sign", fonts=fonts)
    assert layout.rotation != 0
    paper = (245, 242, 235)
    picture = np.asarray(layout.render(64, (20, 20, 20), paper))
    for corner in (picture[0, 0], picture[0, -1], picture[-1, 0], picture[-1, -1]):
        assert tuple(corner) == paper
    assert picture.min() < 100, "the letters are drawn"


def test_a_turned_signs_reading_quads_hold_all_its_letters(fonts):
    """OCR reads each block inside its quad (ocr.quads): a turned sign's quads must turn with its
    letters, or the reader would cut their ends off."""
    for seed in range(6):
        layout = lay_out("BEWARE OF\nTHE DOG", random.Random(seed), template="sign", fonts=fonts)
        if layout.rotation:
            break
    assert abs(layout.rotation) > 1
    size = 256
    inside = Image.new("L", (size, size), 0)
    for quad in reading_quads(layout):
        ImageDraw.Draw(inside).polygon([(x * size, y * size) for x, y in quad], fill=255)
    ink = layout.glyph_map(size) > 0.3
    assert ink.sum() > 100
    assert (np.asarray(inside)[ink] > 0).mean() > 0.995


def test_every_block_of_a_tweet_has_its_own_reading_quad_in_reading_order(fonts):
    layout = lay_out("dril\n@dril\ni will never apologize for the things i have tweeted", random.Random(0), template="tweet", fonts=fonts)
    quads = reading_quads(layout)
    assert len(quads) == len(layout.blocks) >= 3
    tops = [min(y for _, y in quad) for quad in quads]
    assert tops[0] < tops[1] < tops[-1]  # name above handle above body
