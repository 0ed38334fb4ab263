"""Colour statistics of pictures of text (generation.colour) and the edits of the predicted clean
image that steer sampling (generation.guidance), plus the pipeline's colour guidance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from generation.colour import Palette, colour_distance, split_two_colours, transfer_colours
from generation.guidance import ColourGuidance, KeepRegion, apply_clean_edits
from generation.templates import candidate_layouts
from generation.pipeline import OptionError, pil_to_tensor

RED, WHITE = (200, 0, 0), (255, 255, 255)


def _to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), np.float32) / 127.5 - 1).permute(2, 0, 1)


def _units(rgb) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1


def _flat(rgb, size: int = 32) -> torch.Tensor:
    return _units(rgb)[:, None, None].expand(3, size, size).clone()


# ------------------------------------------------------------------ colour


def test_split_two_colours_finds_white_letters_on_red():
    # A bold font on a plain card: at 64 px a thin face's strokes are mostly anti-aliased edge.
    layout = candidate_layouts(["HELLO\nWORLD"], [3], font="DejaVuSans-Bold", template="card")[0]
    picture = layout.render(64, WHITE, RED)
    split = split_two_colours(_to_tensor(picture))
    glyph = torch.from_numpy(layout.glyph_map(64))
    assert 0.02 < split.text_mask.mean() < 0.5  # the letters are the minority
    # The mask is the letters: nearly all of it lies on the glyph map's ink.
    assert (split.text_mask * (glyph > 0.3)).sum() / split.text_mask.sum() > 0.9
    torch.testing.assert_close(split.palette.background_mean, _units(RED), atol=0.05, rtol=0)
    assert (split.palette.text_mean[1:] > 0.3).all()  # white-ish (anti-aliased edges pull towards red)
    assert split.palette.text_mean[0] > 0.9
    assert (split.palette.background_std < 0.2).all()  # anti-aliased edges fall on either side


def test_a_flat_picture_has_no_letters():
    split = split_two_colours(_flat(RED))
    assert split.text_mask.sum() == 0
    torch.testing.assert_close(split.palette.text_mean, split.palette.background_mean)
    torch.testing.assert_close(split.palette.background_mean, _units(RED), atol=1e-6, rtol=0)


def test_colour_distance_is_zero_for_the_same_colours_and_grows_with_difference():
    layout = candidate_layouts(["SALE"], [1])[0]
    picture = _to_tensor(layout.render(48, WHITE, RED))
    assert colour_distance(picture, picture.clone()) == pytest.approx(0, abs=1e-4)
    near = colour_distance(_flat(RED), _flat((180, 10, 10)))
    far = colour_distance(_flat(RED), _flat((0, 0, 200)))
    assert 0 < near < far
    assert far == pytest.approx((200 + 0 + 200) / 3, abs=1)  # flat colours: the mean channel difference in 0..255
    # Layout does not matter, only the colours: the same picture mirrored is at distance 0.
    assert colour_distance(picture, picture.flip(-1)) == pytest.approx(0, abs=1e-4)


def test_transfer_colours_moves_both_parts_to_the_target_means():
    generator = torch.Generator().manual_seed(0)
    mask = (torch.rand(1, 32, 32, generator=generator) > 0.7).float()
    image = (0.4 * mask[:, None] + torch.randn(1, 3, 32, 32, generator=generator) * 0.1 - 0.3).clamp(-1, 1)
    target = Palette(
        torch.tensor([0.6, -0.2, 0.1]), torch.tensor([0.05, 0.05, 0.05]),
        torch.tensor([-0.4, 0.3, -0.1]), torch.tensor([0.1, 0.1, 0.1]),
    )
    moved = transfer_colours(image, mask, target)
    assert moved.shape == image.shape and moved.dtype == image.dtype
    text = moved[0][:, mask[0] > 0].mean(dim=1)
    background = moved[0][:, mask[0] == 0].mean(dim=1)
    torch.testing.assert_close(text, target.text_mean, atol=0.02, rtol=0)
    torch.testing.assert_close(background, target.background_mean, atol=0.02, rtol=0)
    assert (moved[0][:, mask[0] > 0].std(dim=1) < 0.08).all()


def test_palette_average_is_the_mean_of_each_field():
    first = split_two_colours(_flat(RED)).palette
    second = split_two_colours(_flat((0, 0, 200))).palette
    mean = Palette.average([first, second])
    torch.testing.assert_close(mean.background_mean, (first.background_mean + second.background_mean) / 2)


# ------------------------------------------------------------------ guidance


def _identity(clean: torch.Tensor, done: float) -> torch.Tensor:
    return clean


@pytest.mark.parametrize("prediction_type", ["sample", "epsilon", "v_prediction"])
@pytest.mark.parametrize("alpha", [0.02, 0.5, 0.98])
def test_an_identity_edit_gives_back_the_model_output(prediction_type, alpha):
    generator = torch.Generator().manual_seed(1)
    sample = torch.randn(2, 3, 8, 8, generator=generator)
    output = torch.randn(2, 6, 8, 8, generator=generator)  # 3 more channels: learned variances
    edited = apply_clean_edits([_identity], output, sample, torch.tensor(alpha), prediction_type, 0.5)
    assert edited.shape == output.shape
    torch.testing.assert_close(edited, output, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(edited[:, 3:], output[:, 3:], atol=0, rtol=0)


@pytest.mark.parametrize("prediction_type", ["sample", "epsilon", "v_prediction"])
def test_an_edit_changes_the_predicted_clean_image_it_implies(prediction_type):
    generator = torch.Generator().manual_seed(2)
    sample, output = torch.randn(1, 3, 8, 8, generator=generator), torch.randn(1, 3, 8, 8, generator=generator)
    alpha = torch.tensor(0.6)
    target = torch.full((1, 3, 8, 8), 0.25)
    edited = apply_clean_edits([lambda clean, done: target], output, sample, alpha, prediction_type, 0.0)
    signal, noise = alpha.sqrt(), (1 - alpha).sqrt()
    implied = {
        "sample": edited,
        "epsilon": (sample - noise * edited) / signal,
        "v_prediction": signal * sample - noise * edited,
    }[prediction_type]
    torch.testing.assert_close(implied, target, atol=1e-5, rtol=0)


def test_no_edits_return_the_output_itself_and_unknown_types_are_refused():
    output, sample = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    assert apply_clean_edits([], output, sample, torch.tensor(0.5), "whatever", 0.0) is output
    with pytest.raises(ValueError, match="'flow'"):
        apply_clean_edits([_identity], output, sample, torch.tensor(0.5), "flow", 0.0)


def test_edits_run_in_order_and_hear_how_far_sampling_is():
    heard = []

    def add(amount):
        def edit(clean, done):
            heard.append((amount, done))
            return clean + amount
        return edit

    output, sample = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    edited = apply_clean_edits([add(1.0), add(2.0)], output, sample, torch.tensor(0.5), "sample", 0.25)
    assert heard == [(1.0, 0.25), (2.0, 0.25)]
    torch.testing.assert_close(edited, torch.full_like(output, 3.0))


def test_keep_region_keeps_the_known_pixels_and_leaves_the_rest_to_the_model():
    generator = torch.Generator().manual_seed(3)
    known = torch.rand(1, 3, 8, 8, generator=generator) * 2 - 1
    clean = torch.rand(2, 3, 8, 8, generator=generator) * 2 - 1
    keep = torch.ones(1, 1, 8, 8)
    keep[..., 2:5, 1:7] = 0
    kept = KeepRegion(known, keep)(clean, 0.3)
    inside = keep.expand_as(clean).bool()
    assert torch.equal(kept[inside], known.expand_as(clean)[inside])
    assert torch.equal(kept[~inside], clean[~inside])


def test_keep_region_through_an_epsilon_model_keeps_the_known_pixels():
    generator = torch.Generator().manual_seed(4)
    known = torch.rand(1, 3, 8, 8, generator=generator) * 2 - 1
    keep = torch.zeros(1, 1, 8, 8)
    keep[..., :4, :] = 1
    sample, output = torch.randn(1, 3, 8, 8, generator=generator), torch.randn(1, 3, 8, 8, generator=generator)
    alpha = torch.tensor(0.3)
    edited = apply_clean_edits([KeepRegion(known, keep)], output, sample, alpha, "epsilon", 0.0)
    clean = (sample - (1 - alpha).sqrt() * edited) / alpha.sqrt()
    torch.testing.assert_close(clean[..., :4, :], known[..., :4, :], atol=1e-5, rtol=0)
    before = (sample - (1 - alpha).sqrt() * output) / alpha.sqrt()
    torch.testing.assert_close(clean[..., 4:, :], before[..., 4:, :], atol=1e-5, rtol=0)


def test_colour_guidance_pulls_letters_and_background_towards_the_reference():
    layout = candidate_layouts(["HI"], [0])[0]
    mask = torch.from_numpy(layout.glyph_map(32))[None]
    reference = split_two_colours(_to_tensor(layout.render(32, WHITE, RED))).palette
    clean = _to_tensor(layout.render(32, (0, 0, 0), (0, 0, 230)))[None]  # black on blue
    full = ColourGuidance(reference, mask, 1.0)(clean, 0.0)
    half = ColourGuidance(reference, mask, 0.5)(clean, 0.0)
    background = (mask[0] < 0.05)
    torch.testing.assert_close(full[0][:, background].mean(dim=1), reference.background_mean, atol=0.05, rtol=0)
    torch.testing.assert_close(half, clean + 0.5 * (full - clean), atol=1e-5, rtol=0)
    assert colour_distance(full[0], _to_tensor(layout.render(32, WHITE, RED))) < colour_distance(clean[0], _to_tensor(layout.render(32, WHITE, RED)))


# ------------------------------------------------------------------ the pipeline


@pytest.mark.parametrize("strength", [0.0, -0.1, 1.5])
def test_colour_guidance_strength_outside_its_range_is_refused(tiny_pipe, strength):
    with pytest.raises(OptionError, match="style_strength"):
        tiny_pipe.colour_guidance(Image.new("RGB", (20, 10), RED), [None], 16, strength)


def test_colour_guidance_reads_a_non_square_reference(tiny_pipe):
    reference = Image.new("RGB", (60, 20), RED)
    guidance = tiny_pipe.colour_guidance(reference, [None, candidate_layouts(["AB"], [0])[0]], 16, 0.5)
    assert guidance.text_masks.shape == (2, 16, 16)
    assert guidance.text_masks[0].sum() == 0 and guidance.text_masks[1].sum() > 0
    torch.testing.assert_close(guidance.reference.background_mean, pil_to_tensor([Image.new("RGB", (16, 16), RED)], 16)[0, :, 0, 0])


def test_a_style_image_steers_the_whole_cascade(tiny_pipe):
    options = dict(num_inference_steps=1, sr_num_inference_steps=1, scheduler="ddim", seed=5, output_type="pt")
    plain = tiny_pipe("AB", **options)
    red = tiny_pipe("AB", style_image=Image.new("RGB", (40, 40), RED), style_strength=1.0, **options)
    assert red.images.shape == plain.images.shape == (1, 3, 32, 32)
    assert not torch.allclose(red.images, plain.images, atol=1e-3)
    assert not torch.allclose(red.base_images, plain.base_images, atol=1e-3)
    target = _flat(RED, 32)
    assert colour_distance(red.images[0], target) < colour_distance(plain.images[0], target)
