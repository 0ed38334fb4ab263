"""Film-grain synthesis (generation.film_grain): measuring a style's grain, adding matching grain to
the final pictures, keeping it in the style file, and the pipeline adding it after the SR stage."""

from __future__ import annotations

import pytest
import torch

from generation.film_grain import GRAIN_LEVELS, LETTER_GRAIN_SHARE, FilmGrain, add_grain, gaussian_blur, measure_grain
from generation.styles import StyleTokens, UnusableStyleError
from tests.generation.test_style_adapters import _lora_style

SIZE = 96


def _board(grey: float, noise: float, seed: int = 0, count: int = 2) -> torch.Tensor:
    """`count` flat grey pictures (0..255 grey) with luminance noise of `noise` (0..255), in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    grain = torch.randn(count, 1, SIZE, SIZE, generator=generator) * noise
    return ((grey + grain).expand(-1, 3, -1, -1) / 127.5 - 1).clamp(-1, 1)


def _no_letters(count: int = 2) -> torch.Tensor:
    return torch.zeros(count, 1, SIZE, SIZE)


def _level(grey: float) -> int:
    return int(grey / 256 * GRAIN_LEVELS)


def test_grain_added_from_a_measurement_measures_as_the_original():
    original = measure_grain(_board(90, 10), _no_letters())
    assert original.spread[_level(90)] > 5
    regrained = add_grain(_board(90, 0), original, seeds=[1, 2])
    again = measure_grain(regrained, _no_letters())
    assert again.spread[_level(90)] == pytest.approx(original.spread[_level(90)], rel=0.1)
    assert again.size == original.size


def test_a_clean_picture_has_no_grain_and_letter_edges_do_not_count_as_grain():
    picture = _board(40, 0)
    letters = _no_letters()
    letters[:, :, 30:60, 20:70] = 1
    picture[:, :, 30:60, 20:70] = 0.9  # bright letters, sharp edges
    grain = measure_grain(picture, letters)
    assert max(grain.spread) < 0.5
    assert add_grain(picture, grain, seeds=[0, 1]).sub(picture).abs().max() < 0.01


def test_the_spread_follows_brightness():
    dark, bright = _board(40, 3), _board(200, 12, seed=1)
    picture = torch.cat([dark[..., : SIZE // 2], bright[..., SIZE // 2 :]], dim=-1)
    letters = _no_letters()
    letters[..., SIZE // 2 :] = 1  # the bright half is "ink": its grain is kept apart from the edge band
    grain = measure_grain(picture, letters)
    assert grain.spread[_level(200)] > 2.5 * grain.spread[_level(40)]
    smooth = torch.cat([_board(40, 0)[..., : SIZE // 2], _board(200, 0)[..., SIZE // 2 :]], dim=-1)
    added = add_grain(smooth, grain, seeds=[3, 4]) - smooth
    assert added[..., SIZE // 2 + 8 :].std() > 2.5 * added[..., : SIZE // 2 - 8].std()


def test_coarse_grain_is_measured_coarser_than_fine_grain():
    fine = measure_grain(_board(120, 8), _no_letters())
    coarse_noise = gaussian_blur(torch.randn(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2)), 1.0) * 30
    coarse = measure_grain(((120 + coarse_noise).expand(-1, 3, -1, -1) / 127.5 - 1), _no_letters())
    assert coarse.size > fine.size


def test_the_same_seed_adds_the_same_grain_and_strength_scales_it():
    grain = FilmGrain((6.0,) * GRAIN_LEVELS, 0.5)
    smooth = _board(128, 0, count=1)
    first, second = add_grain(smooth, grain, [7]), add_grain(smooth, grain, [7])
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    assert not torch.equal(first, add_grain(smooth, grain, [8]))
    half = add_grain(smooth, grain, [7], strength=0.5)
    assert float((half - smooth).std()) == pytest.approx(0.5 * float((first - smooth).std()), rel=0.05)
    torch.testing.assert_close(add_grain(smooth, grain, [7], strength=0.0), smooth, atol=0, rtol=0)
    with pytest.raises(ValueError, match="one seed per picture"):
        add_grain(smooth, grain, [1, 2])


def test_grain_stays_in_the_pictures_range():
    loud = FilmGrain((120.0,) * GRAIN_LEVELS, 0.0)
    grained = add_grain(_board(250, 0), loud, seeds=[0, 1])
    assert grained.min() >= -1 and grained.max() <= 1


@pytest.mark.parametrize("values", [[1.0] * GRAIN_LEVELS, [-1.0] * (GRAIN_LEVELS + 1), [300.0] * (GRAIN_LEVELS + 1)])
def test_a_grain_tensor_of_the_wrong_shape_or_range_is_refused(values):
    with pytest.raises(ValueError, match="grain"):
        FilmGrain.from_tensor(torch.tensor(values))


def test_grain_round_trips_through_the_style_file_and_a_bad_one_is_a_style_error(tiny_base):
    grain = FilmGrain(tuple(float(v) for v in range(GRAIN_LEVELS)), 0.7)
    style = _lora_style(tiny_base, grain=grain)
    back = StyleTokens.from_bytes(style.to_bytes())
    assert back.grain == grain
    assert StyleTokens.from_bytes(back.without_grain().to_bytes()).grain is None
    from safetensors.torch import load, save
    from generation.styles import _metadata

    data = style.to_bytes()
    tensors = load(data)
    tensors["grain"] = torch.tensor([1.0, 2.0])
    with pytest.raises(UnusableStyleError, match="grain is unreadable"):
        StyleTokens.from_bytes(save(tensors, metadata=_metadata(data)))


def test_the_pipeline_adds_the_styles_grain_to_the_final_pictures_only(tiny_pipe):
    grain = FilmGrain((20.0,) * GRAIN_LEVELS, 0.3)
    plain_style = _lora_style(tiny_pipe.base_unet).without_palette()
    grained_style = _lora_style(tiny_pipe.base_unet, grain=grain).without_palette()
    options = dict(seed=4, num_inference_steps=1, sr_num_inference_steps=1, output_type="pt", style_strength=1.0)
    plain = tiny_pipe("AB", style=plain_style, **options)
    grained = tiny_pipe("AB", style=grained_style, **options)
    torch.testing.assert_close(grained.base_images, plain.base_images, atol=0, rtol=0)
    from generation.pipeline import sr_seeds

    size = plain.images.shape[-1]
    letters = torch.from_numpy(plain.layouts[0].glyph_map(size))[None, None]
    torch.testing.assert_close(grained.images, add_grain(plain.images, grain, sr_seeds(plain.seeds), letters=letters), atol=1e-6, rtol=0)


def test_the_letters_get_only_their_share_of_the_grain():
    grain = FilmGrain((10.0,) * GRAIN_LEVELS, 0.0)
    smooth = _board(128, 0, count=1)
    letters = _no_letters(1)
    letters[..., 30:60, 30:60] = 1
    added = add_grain(smooth, grain, [2], letters=letters) - smooth
    ground = added[..., 70:, 70:].std()
    assert float(added[..., 32:58, 32:58].abs().max()) <= LETTER_GRAIN_SHARE * 10 / 127.5 * 6 + 1e-6
    assert float(ground) > 0.05
