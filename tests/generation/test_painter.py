"""The training pictures' painter: the chat's own bubbles look like a messaging app's."""

import random

import numpy as np

from generation.data.painter import OWN_BUBBLE_COLOURS, paint_page
from generation.templates import lay_out


def _luma(colour) -> float:
    red, green, blue = (float(value) for value in colour)
    return (0.299 * red + 0.587 * green + 0.114 * blue) / 255


def test_right_hand_chat_bubbles_take_an_app_colour_with_light_letters():
    seen = set()
    for seed in range(12):
        rng = random.Random(seed)
        page = lay_out("hey are you up\nyes why\ncome outside", rng, template="chat")
        picture = np.asarray(paint_page(page, 256, random.Random(seed)), np.float32)
        for block, region in zip(page.blocks, page.regions):
            left, top, right, bottom = region.box
            if (left + right) / 2 <= 0.5:
                continue
            ink_left, ink_top, ink_right, ink_bottom = (round(value * 256) for value in block.layout.text_boxes()[0])
            inside = np.zeros((256, 256), bool)
            inside[round(top * 256) + 2 : round(bottom * 256) - 2, round(left * 256) + 3 : round(right * 256) - 3] = True
            inside[ink_top:ink_bottom, ink_left:ink_right] = False  # the bubble's padding, clear of the letters
            fill = np.median(picture[inside], axis=0)
            nearest = min(OWN_BUBBLE_COLOURS, key=lambda colour: np.abs(fill - colour).sum())
            assert np.abs(fill - nearest).max() < 40, (seed, fill)
            seen.add(nearest)
            ink = picture[ink_top:ink_bottom, ink_left:ink_right].reshape(-1, 3)
            brightest = max(ink, key=_luma)
            assert _luma(brightest) - _luma(nearest) > 0.35, (seed, brightest, nearest)
    assert len(seen) >= 2  # more than one app's colour, so the model sees a choice, not one blue
