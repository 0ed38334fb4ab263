"""The flatness figure of the text-accuracy benchmark, and scores with line breaks folded."""

import numpy as np
from PIL import Image, ImageDraw

from ocr.flatness import FLAT_BELOW, is_flat, structure_outside_text
from ocr.scoring import fold_whitespace, score_text


def test_a_flat_card_with_text_is_flat_once_its_text_box_is_left_out():
    card = Image.new("RGB", (128, 128), (40, 90, 160))
    ImageDraw.Draw(card).text((20, 50), "HELLO WORLD", fill="white")
    box = (0.1, 0.35, 0.8, 0.5)
    assert structure_outside_text(card, [box]) < 0.1
    assert is_flat(card, [box])
    assert structure_outside_text(card) > structure_outside_text(card, [box])  # the letters themselves are structure


def test_noise_and_stripes_are_not_flat():
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    stripes = Image.fromarray(np.uint8(np.tile((np.arange(64) // 4 % 2) * 200, (64, 1)))).convert("RGB")
    assert structure_outside_text(noise) > FLAT_BELOW and not is_flat(stripes)


def test_a_picture_covered_by_text_boxes_counts_as_flat():
    assert structure_outside_text(Image.new("RGB", (32, 32)), [(0, 0, 1, 1)]) == 0.0


def test_folded_scores_forgive_a_wrapped_line_but_not_a_wrong_word():
    transcript = "i will never apologize for the things i have tweeted"
    wrapped = "i will never apologize\nfor the things i have tweeted"
    score = score_text(transcript, wrapped)
    assert not score.exact and score.exact_folded and score.cer_folded == 0.0
    wrong = score_text(transcript, wrapped.replace("tweeted", "twected"))
    assert not wrong.exact_folded and 0 < wrong.cer_folded < 0.05
    assert fold_whitespace(" a \n\n b\tc ") == "a b c"


def test_the_long_held_out_file_covers_every_template_and_the_length_range():
    from generation.templates.rules import template_choices
    from ocr.heldout import is_heldout, load_heldout_all, load_heldout_long

    long = load_heldout_long()
    assert len(long) >= 60 and all(30 <= len(text) <= 380 for text in long)
    offered = {name for text in long for name in template_choices(text)}
    assert offered >= {"card", "tweet", "chat", "meme", "sign", "poster", "cover", "page", "notice"}
    assert all(is_heldout(text) for text in long) and set(long) <= set(load_heldout_all())
