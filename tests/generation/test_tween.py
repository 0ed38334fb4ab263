"""Prompt tweening: weighted key masks, text blending in the text encoder and the U-Net,
the tween checks, layouts, frames and the animated GIF."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

from generation.layout import LayoutError
from generation.templates import candidate_layouts
from generation.pipeline import OptionError
from generation.text_encoder import TextBlend
from generation.tokenizer import GlyphTokenizer
from generation.tween import LayoutBlend, TweenError, animated_gif, check_tween, tween_frames, tween_layouts
from generation.types import MAX_TWEEN_FRAMES, MIN_TWEEN_FRAMES
from generation.weave import additive_key_mask

# ------------------------------------------------------------------ weighted key masks


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_additive_key_mask_hides_zeros_keeps_ones_and_scales_weights(dtype):
    mask = torch.tensor([[1, 0, 1], [0, 1, 1]])
    bias = additive_key_mask(mask, dtype)
    assert bias.shape == (2, 1, 3) and bias.dtype == dtype
    assert bias[0, 0, 0] == 0 and bias[0, 0, 2] == 0
    assert bias[0, 0, 1] == torch.finfo(dtype).min and bias[1, 0, 0] == torch.finfo(dtype).min
    weighted = additive_key_mask(torch.tensor([[0.5, 1.0, 0.0, 0.25]]), dtype)
    assert float(weighted[0, 0, 0]) == pytest.approx(math.log(0.5), rel=1e-2)
    assert float(weighted[0, 0, 3]) == pytest.approx(math.log(0.25), rel=1e-2)
    assert weighted[0, 0, 1] == 0 and weighted[0, 0, 2] == torch.finfo(dtype).min


def test_a_weighted_key_scales_its_attention_share():
    scores = torch.zeros(1, 1, 2)  # two keys of equal score
    probabilities = torch.softmax(scores + additive_key_mask(torch.tensor([[1.0, 0.5]]), torch.float32), dim=-1)
    torch.testing.assert_close(probabilities[0, 0], torch.tensor([2 / 3, 1 / 3]))


# ------------------------------------------------------------------ text blending


def _tokens(texts):
    return GlyphTokenizer(max_tokens=64)(texts)


def _blend(texts, weights) -> TextBlend:
    batch = _tokens(texts)
    return TextBlend(batch.input_ids, batch.attention_mask, batch.line_ids, torch.tensor(weights))


@pytest.mark.parametrize("first, second", [("AB", "HELLO"), ("HELLO\nTHERE", "HI")])
def test_blend_weights_zero_and_one_give_exactly_one_text(tiny_base, first, second):
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(2, 3, 16, 16, generator=generator)
    glyph = torch.rand(2, 1, 16, 16, generator=generator)
    ones, twos = _tokens([first, first]), _tokens([second, second])

    def run(batch, blend=None):
        with torch.no_grad():
            return tiny_base(sample, 400, batch.input_ids, batch.attention_mask, batch.line_ids, glyph=glyph, text_blend=blend).sample

    only_first, only_second = run(ones), run(twos)
    blended = run(ones, _blend([second, second], [0.0, 1.0]))
    torch.testing.assert_close(blended[0], only_first[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(blended[1], only_second[1], atol=1e-5, rtol=0)
    halfway = run(ones, _blend([second, second], [0.5, 0.5]))
    assert not torch.allclose(halfway[0], only_first[0], atol=1e-4)
    assert not torch.allclose(halfway[0], only_second[0], atol=1e-4)


def test_the_text_encoder_blend_mixes_features_and_key_weights(tiny_base):
    encoder = tiny_base.text_encoder
    first, second = _tokens(["AB"]), _tokens(["HELLO"])
    temb = torch.randn(1, encoder.time_projection[1].in_features, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        text = encoder(first.input_ids, first.attention_mask, first.line_ids, temb)
        other = encoder(second.input_ids, second.attention_mask, second.line_ids, temb)
        mixed, keys = encoder.blended(text, first.attention_mask, _blend(["HELLO"], [0.25]), temb)
    assert mixed.shape == (1, 6, 32) and keys.shape == (1, 6)
    # "AB</s>" has 3 tokens, "HELLO</s>" 6: both texts' keys are full weight, the rest fade in at 0.25.
    torch.testing.assert_close(keys[0], torch.tensor([1, 1, 1, 0.25, 0.25, 0.25]))
    torch.testing.assert_close(mixed[0, :3], 0.75 * text[0] + 0.25 * other[0, :3], atol=1e-5, rtol=0)
    torch.testing.assert_close(mixed[0, 3:], other[0, 3:], atol=1e-5, rtol=0)


def test_the_pipeline_refuses_blends_without_one_weight_per_prompt(tiny_pipe):
    with pytest.raises(OptionError, match="one blend prompt and one weight per prompt"):
        tiny_pipe.generate_base(["AB", "CD"], seeds=[0, 1], num_inference_steps=1, blend_prompts=["X", "Y"], blend_weights=[0.5])
    with pytest.raises(OptionError, match="between 0 and 1"):
        tiny_pipe.generate_base(["AB"], seeds=[0], num_inference_steps=1, blend_prompts=["X"], blend_weights=[1.5])


# ------------------------------------------------------------------ checks and layouts


@pytest.mark.parametrize("start, end", [("HELLO", "HELLO"), ("HELLO  ", "HELLO"), ("A \n B", "A\nB"), ("x\r\ny", "x\ny")])
def test_identical_ends_are_refused_after_normalisation(start, end):
    with pytest.raises(TweenError, match="two ends are the same text"):
        check_tween(start, end, 12)


@pytest.mark.parametrize("frames", [MIN_TWEEN_FRAMES - 1, 0, -3, MAX_TWEEN_FRAMES + 1, 2.5, "12"])
def test_frame_counts_outside_the_limits_are_refused(frames):
    with pytest.raises(TweenError, match=rf"from {MIN_TWEEN_FRAMES} to {MAX_TWEEN_FRAMES}"):
        check_tween("OPEN", "SHUT", frames)


@pytest.mark.parametrize("frames", [MIN_TWEEN_FRAMES, 12, MAX_TWEEN_FRAMES])
def test_frame_counts_at_the_limits_are_taken(frames):
    check_tween("OPEN", "SHUT", frames)


def test_tween_layouts_fade_from_start_to_end_in_one_font():
    layouts = tween_layouts("OPEN", "CLOSED", seed=4, frames=5)
    assert [blend.weight for blend in layouts] == [0, 0.25, 0.5, 0.75, 1]
    first, second = layouts[0].first, layouts[0].second
    assert all(blend.first is first and blend.second is second for blend in layouts)
    assert (first.text, second.text) == ("OPEN", "CLOSED")
    assert second.font == first.font and second.align == first.align
    np.testing.assert_allclose(layouts[0].glyph_map(16), first.glyph_map(16))
    np.testing.assert_allclose(layouts[-1].glyph_map(16), second.glyph_map(16))
    middle = layouts[2].glyph_map(16)
    np.testing.assert_allclose(middle, 0.5 * first.glyph_map(16) + 0.5 * second.glyph_map(16), atol=1e-6)


def test_pinned_font_and_alignment_hold_at_both_ends():
    layouts = tween_layouts("A", "B", seed=0, frames=2, font="DejaVuSerif", align="right")
    for layout in (layouts[0].first, layouts[0].second):
        assert layout.font_name == "DejaVuSerif" and layout.align == "right"


def test_an_end_legible_only_in_another_font_gets_one():
    """Regression: the end was pinned to the start's font whenever that font had its characters, so an
    end too wide for that font was refused ("too large to be legible ... in every font") although other
    fonts draw it fine: a valid tween (and its job) was rejected."""
    end = "i" * 60  # narrow in a proportional font, as wide as "W" in a monospaced one
    start_font = tween_layouts("A", "B", seed=0, frames=2)[0].first.font_name
    with pytest.raises(LayoutError, match="too large"):
        candidate_layouts([end], [0], "glyph", start_font, template="card")  # the start's font cannot draw it legibly
    layouts = tween_layouts("A", end, seed=0, frames=3)
    assert layouts[0].first.font_name == start_font
    assert layouts[0].second.text == end and layouts[0].second.font_name != start_font
    assert layouts[0].second.align == layouts[0].first.align
    with pytest.raises(LayoutError, match="too large"):  # a font the user pinned stays pinned
        tween_layouts("A", end, seed=0, frames=3, font=start_font)


def test_the_end_gets_its_own_font_when_the_start_font_cannot_draw_it(monkeypatch):
    import generation.tween as tween

    monkeypatch.setattr(tween, "uncovered_characters", lambda text, font: "?")  # the start's font draws nothing of the end
    layouts = tween.tween_layouts("AB", "CD", seed=2, frames=2)
    assert layouts[0].second.text == "CD"
    assert layouts[0].second.align == layouts[0].first.align


# ------------------------------------------------------------------ GIF


def _noise_frames(count: int, size: int = 96) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(count)]


def test_animated_gif_loops_and_holds_the_ends():
    frames = [Image.new("RGB", (24, 24), (i * 40, 0, 255 - i * 40)) for i in range(4)]
    data = animated_gif(frames, max_bytes=1_000_000, frame_ms=100)
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.size == (24, 24)
    assert gif.info.get("loop") == 0
    durations = []
    for index in range(gif.n_frames):
        gif.seek(index)
        durations.append(gif.info["duration"])
    assert durations == [400, 100, 100, 400]


def test_an_animation_over_the_limit_names_it_and_a_frame_count_that_fits():
    frames = _noise_frames(8)
    size = len(animated_gif(frames, max_bytes=10**9))
    limit = size // 2
    shown = f"{limit / 1e6:.1f} MB" if limit >= 1_000_000 else f"{limit / 1e3:.0f} kB"
    with pytest.raises(TweenError, match=rf"over the {shown} limit \(generation\.max_gif_bytes\)") as error:
        animated_gif(frames, max_bytes=limit)
    fitting = int(re.search(r"ask for (\d+) frames or fewer", str(error.value)).group(1))
    assert MIN_TWEEN_FRAMES <= fitting < 8
    assert len(animated_gif(frames[:fitting], max_bytes=10**9)) <= limit * 1.05


# ------------------------------------------------------------------ frames


def test_tween_frames_on_a_tiny_cascade(tiny_pipe):
    frames = tween_frames(tiny_pipe, "AB", "XYZ", frames=3, seed=9, num_inference_steps=2, sr_num_inference_steps=1, scheduler="ddim")
    assert len(frames) == 3
    assert all(isinstance(frame, Image.Image) and frame.size == (32, 32) for frame in frames)
    pixels = [np.asarray(frame, np.int16) for frame in frames]
    assert not np.array_equal(pixels[0], pixels[-1])


def test_tween_frames_check_first(tiny_pipe):
    with pytest.raises(TweenError):
        tween_frames(tiny_pipe, "AB", "AB ", frames=3)


def test_layout_blend_is_a_layout_for_the_pipeline(tiny_pipe):
    blend = tween_layouts("AB", "CD", seed=0, frames=3)[1]
    assert isinstance(blend, LayoutBlend)
    glyph = tiny_pipe._glyph_tensor(tiny_pipe.base_unet, [blend])
    assert glyph.shape == (1, 1, 16, 16)
