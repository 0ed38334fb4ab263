"""Text written into a photo's box takes on the photo around it (generation.guidance.BoxGround)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from generation.photo import box_layout, plan_photo


def _two_tone_photo(ground: tuple[int, int, int]) -> Image.Image:
    """Sky above, a textured ground of `ground`'s colour below."""
    rng = np.random.default_rng(0)
    pixels = np.zeros((200, 200, 3), np.float32)
    pixels[:100] = (110, 160, 230)
    pixels[100:] = np.array(ground) + rng.normal(0, 12, (100, 200, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def _ground(photo_colour: tuple[int, int, int]):  # noqa: ANN202
    plan = plan_photo(_two_tone_photo(photo_colour), (20, 130, 160, 50))
    layouts = [box_layout(plan, "FRESH BREAD", seed) for seed in (0, 1)]
    return plan, layouts, plan.ground(layouts, 64, strength=1.0)


def test_the_ground_between_the_letters_becomes_the_photos_and_the_rest_is_untouched():
    plan, layouts, ground = _ground((150, 120, 80))
    card = torch.ones(2, 3, 64, 64) * 0.9  # a plain light card, what the model tends to draw
    steered = ground(card, 0.5)
    left, top, right, bottom = plan.drawn_box(64)
    photo, _ = plan.known(64)
    letters = torch.from_numpy(np.stack([layout.glyph_map(64) for layout in layouts]))[:, None]
    between = (letters[..., top:bottom, left:right] == 0).expand(-1, 3, -1, -1)
    inside = steered[..., top:bottom, left:right]
    expected = photo[..., top:bottom, left:right].expand(2, -1, -1, -1)
    assert torch.allclose(inside[between], expected[between], atol=1e-5)  # the photo's colours and texture
    outside = torch.ones(1, 1, 64, 64, dtype=torch.bool)
    outside[..., top:bottom, left:right] = False
    assert torch.equal(steered[outside.expand(2, 3, -1, -1)], card[outside.expand(2, 3, -1, -1)])  # KeepRegion's part


def test_the_letters_keep_their_shapes_and_take_a_colour_that_stands_out():
    for photo_colour, dark_ink in (((200, 190, 170), True), ((40, 45, 60), False)):
        plan, layouts, ground = _ground(photo_colour)
        drawn = torch.from_numpy(np.stack([layout.glyph_map(64) for layout in layouts]))[:, None].expand(-1, 3, -1, -1) * 0.2
        steered = ground(drawn.clone(), 0.5)
        left, top, right, bottom = plan.drawn_box(64)
        letters = drawn[..., top:bottom, left:right].mean(dim=1) > 0.19
        ink = steered[..., top:bottom, left:right].mean(dim=1)[letters].mean()
        assert (ink < -0.5) if dark_ink else (ink > 0.5), (photo_colour, float(ink))


def test_a_weaker_strength_moves_part_of_the_way():
    plan, _, ground = _ground((150, 120, 80))
    half = plan.ground([box_layout(plan, "FRESH BREAD", 0)], 64, strength=0.5)
    card = torch.ones(1, 3, 64, 64) * 0.9
    left, top, right, bottom = plan.drawn_box(64)
    full_step = ground(card.expand(2, -1, -1, -1).clone(), 0.5)[:1, :, top:bottom, left:right]
    half_step = half(card.clone(), 0.5)[..., top:bottom, left:right]
    assert torch.allclose(half_step, (card[..., top:bottom, left:right] + full_step) / 2, atol=1e-4)
