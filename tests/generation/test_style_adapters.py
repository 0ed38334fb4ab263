"""LoRA styles (generation.style_adapters): adapters that leave the model exactly as it was after
every job, learning with the prior-preservation loss, the style file, and refusing a style learned
for another model or on other weights."""

from __future__ import annotations

import math

import pytest
import torch

from generation.style_adapters import (
    AdapterMismatchError,
    applied_adapter,
    draw_prior,
    engine_prior,
    expected_shapes,
    has_adapter,
    ordinary_transcripts,
)
from generation.styles import StyleTokens, SuperResolutionPlan, UnusableStyleError, learn_lora_style, model_hash, model_hashes
from generation.tokenizer import GlyphTokenizer
from tests.generation.test_styles import _example, _palette


def _inputs(seed: int = 3):
    tokens = GlyphTokenizer(max_tokens=64)(["AB"])
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(1, 3, 16, 16, generator=generator), tokens, torch.rand(1, 1, 16, 16, generator=generator))


def _draw(unet, inputs) -> torch.Tensor:
    sample, tokens, glyph = inputs
    with torch.no_grad():
        return unet(sample, 500, tokens.input_ids, tokens.attention_mask, tokens.line_ids, glyph=glyph).sample


def _random_adapter(unet, rank: int = 2, seed: int = 5) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=generator) * 0.3 for key, shape in expected_shapes(unet, rank).items()}


def _snapshot(unet) -> tuple[dict[str, torch.Tensor], dict[str, int], dict[str, bool], set[str]]:
    return (
        {name: tensor.clone() for name, tensor in unet.state_dict().items()},
        {name: id(module) for name, module in unet.named_modules()},
        {name: parameter.requires_grad for name, parameter in unet.named_parameters()},
        set(vars(unet)),
    )


def _assert_as_before(unet, snapshot) -> None:
    weights, modules, flags, attributes = snapshot
    assert not has_adapter(unet)
    after = unet.state_dict()
    assert after.keys() == weights.keys()
    assert all(torch.equal(after[name], tensor) for name, tensor in weights.items())
    assert {name: id(module) for name, module in unet.named_modules()} == modules  # the very same modules are back
    assert {name: parameter.requires_grad for name, parameter in unet.named_parameters()} == flags
    assert set(vars(unet)) == attributes  # nothing of peft's bookkeeping either


def test_targets_are_the_unets_attention_and_residual_convolutions_not_the_text_encoder(tiny_base):
    shapes = expected_shapes(tiny_base, 4)
    assert shapes and not any(key.startswith("text_encoder.") for key in shapes)
    assert any(".to_q." in key for key in shapes) and any(".conv1." in key for key in shapes)
    assert not any(key.startswith(("conv_in.", "conv_out.")) for key in shapes)


def test_the_sr_stages_targets_are_its_finest_decoder_levels_convolutions(tiny_sr):
    shapes = expected_shapes(tiny_sr, 4)
    levels = len(tiny_sr.config.block_out_channels)
    finest = {f"up_levels.{index}." for index in range(levels - 2, levels)}
    assert shapes and all(key.startswith(tuple(finest)) and (".conv1." in key or ".conv2." in key) for key in shapes)
    assert any(key.startswith(f"up_levels.{levels - 1}.") for key in shapes)


def test_an_applied_adapter_changes_the_drawing_and_is_gone_afterwards(tiny_base):
    inputs = _inputs()
    plain = _draw(tiny_base, inputs)
    snapshot = _snapshot(tiny_base)
    adapter = _random_adapter(tiny_base)
    with applied_adapter(tiny_base, adapter, 2, scale=1.0):
        assert has_adapter(tiny_base)
        styled = _draw(tiny_base, inputs)
    with applied_adapter(tiny_base, adapter, 2, scale=0.5):
        half = _draw(tiny_base, inputs)
    assert (styled - plain).abs().max() > 1e-3
    assert 0 < (half - plain).abs().max() < (styled - plain).abs().max()
    _assert_as_before(tiny_base, snapshot)
    torch.testing.assert_close(_draw(tiny_base, inputs), plain, atol=0, rtol=0)


def test_an_adapter_is_removed_when_the_render_fails_inside(tiny_base):
    inputs = _inputs()
    plain = _draw(tiny_base, inputs)
    snapshot = _snapshot(tiny_base)
    with pytest.raises(RuntimeError, match="out of memory"):
        with applied_adapter(tiny_base, _random_adapter(tiny_base), 2, scale=1.0):
            _draw(tiny_base, inputs)
            raise RuntimeError("CUDA out of memory half-way through the job")
    _assert_as_before(tiny_base, snapshot)
    torch.testing.assert_close(_draw(tiny_base, inputs), plain, atol=0, rtol=0)


def test_an_adapter_for_another_model_is_refused_before_anything_changes(tiny_base, tiny_sr):
    snapshot = _snapshot(tiny_base)
    with pytest.raises(AdapterMismatchError, match="does not fit|needs"):
        with applied_adapter(tiny_base, _random_adapter(tiny_sr), 2, scale=1.0):
            pass
    wrong_rank = _random_adapter(tiny_base, rank=3)
    with pytest.raises(AdapterMismatchError, match=r"needs \("):
        with applied_adapter(tiny_base, wrong_rank, 2, scale=1.0):
            pass
    _assert_as_before(tiny_base, snapshot)


def _lora_style(unet, **overrides) -> StyleTokens:
    style = StyleTokens("neon", None, _palette(), model_hash(unet), 7, 0.25, _random_adapter(unet), 2, ("AB", "CAT", "dog"))
    return style if not overrides else StyleTokens(**{**style.__dict__, **overrides})


def test_a_lora_style_round_trips_through_its_file(tiny_base):
    style = _lora_style(tiny_base)
    back = StyleTokens.from_bytes(style.to_bytes())
    assert (back.method, back.rank, back.slots, back.transcripts, back.steps) == ("lora", 2, 0, ("AB", "CAT", "dog"), 7)
    assert back.adapter.keys() == style.adapter.keys()
    assert all(torch.equal(back.adapter[key], value) for key, value in style.adapter.items())
    back.check_fits(tiny_base)
    without = StyleTokens.from_bytes(style.without_palette().to_bytes())
    assert without.palette is None and without.method == "lora"


def test_check_fits_refuses_an_adapter_of_another_model_naming_relearn(tiny_base, tiny_sr):
    with pytest.raises(UnusableStyleError, match=r"style 'neon'.*another model.*glyphbot style relearn neon"):
        _lora_style(tiny_base, adapter=_random_adapter(tiny_sr)).check_fits(tiny_base)


def test_a_style_learned_on_other_weights_is_refused_in_one_line_naming_relearn(tiny_base):
    style = _lora_style(tiny_base, model_hash="0123456789abcdef")
    style.check_current(lambda with_sr: "0123456789abcdef")
    with pytest.raises(UnusableStyleError) as refused:
        style.check_current(lambda with_sr: model_hash(tiny_base))
    message = str(refused.value)
    assert "\n" not in message and "another base model" in message and "`glyphbot style relearn neon`" in message


def test_a_style_with_an_sr_adapter_is_checked_against_both_models(tiny_base, tiny_sr):
    both = model_hash(tiny_base, tiny_sr)
    assert both != model_hash(tiny_base)
    assert model_hashes(tiny_base, tiny_sr) == (model_hash(tiny_base), both)  # relearn --all reads the base once
    assert model_hashes(tiny_base, None) == (model_hash(tiny_base), None)
    style = _lora_style(tiny_base, sr_adapter=_random_adapter(tiny_sr), model_hash=both)
    asked = []
    style.check_current(lambda with_sr: asked.append(with_sr) or (both if with_sr else model_hash(tiny_base)))
    assert asked == [True]
    with pytest.raises(UnusableStyleError, match=r"learned on other base and SR models.*`glyphbot style relearn neon`"):
        style.check_current(lambda with_sr: "0123456789abcdef")
    style.check_fits(tiny_base, tiny_sr)
    with pytest.raises(UnusableStyleError, match=r"style 'neon'.*another model"):
        _lora_style(tiny_base, sr_adapter=_random_adapter(tiny_base)).check_fits(tiny_base, tiny_sr)


def test_an_sr_adapter_round_trips_through_the_style_file(tiny_base, tiny_sr):
    style = _lora_style(tiny_base, sr_adapter=_random_adapter(tiny_sr), sr_steps=9)
    back = StyleTokens.from_bytes(style.to_bytes())
    assert back.sr_steps == 9 and back.sr_adapter.keys() == style.sr_adapter.keys()
    assert all(torch.equal(back.sr_adapter[key], value) for key, value in style.sr_adapter.items())
    assert back.adapter.keys() == style.adapter.keys()  # the two stages' weights are kept apart


def test_ordinary_transcripts_are_reproducible_training_like_text():
    first = ordinary_transcripts(6, seed=1)
    assert first == ordinary_transcripts(6, seed=1) != ordinary_transcripts(6, seed=2)
    assert all(0 < len(text) <= 40 and text.count("\n") <= 2 for text in first)


@pytest.mark.parametrize("with_prior", [True, False], ids=["prior", "no-prior"])
def test_learning_a_lora_style_trains_only_the_adapter(tiny_pipe, with_prior):
    unet = tiny_pipe.base_unet
    snapshot = _snapshot(unet)
    hash_before = model_hash(unet)
    prior = draw_prior(tiny_pipe, count=3, seed=0, steps=2) if with_prior else None
    if prior is not None:
        assert prior.pictures.shape == (3, 3, 16, 16) and len(prior.transcripts) == 3 and "glyph" in prior.maps
    examples = [_example(text, i) for i, text in enumerate(["AB", "CAT", "dog"])]
    seen = []
    style = learn_lora_style(
        "red", unet, tiny_pipe.base_scheduler, GlyphTokenizer(max_tokens=64), examples, prior, steps=4, rank=2,
        progress=lambda step, loss: seen.append((step, loss)),
    )
    assert [step for step, _ in seen] == [1, 2, 3, 4] and math.isfinite(style.loss)
    assert (style.method, style.rank, style.model_hash, style.transcripts) == ("lora", 2, hash_before, ("AB", "CAT", "dog"))
    assert {key: tuple(value.shape) for key, value in style.adapter.items()} == expected_shapes(unet, 2)
    assert all(value.dtype == torch.float16 for value in style.adapter.values())
    # LoRA starts with B = 0; learning moved it.
    assert any(value.abs().max() > 0 for key, value in style.adapter.items() if "lora_B" in key)
    _assert_as_before(unet, snapshot)
    assert all(parameter.grad is None for parameter in unet.parameters())


def test_learning_a_lora_style_with_an_sr_plan_adapts_both_stages_and_leaves_them_as_they_were(tiny_pipe):
    base, sr = tiny_pipe.base_unet, tiny_pipe.sr_unet
    snapshots = _snapshot(base), _snapshot(sr)
    prior = engine_prior(sr, count=2, seed=1)
    size = sr.config.sample_size
    assert prior.pictures.shape == (2, 3, size, size) and prior.maps["glyph"].shape[-1] == size and len(prior.transcripts) == 2
    if sr.config.region_channels:
        assert prior.maps["region"].shape == (2, sr.config.region_channels, size, size)
    examples = [_example(text, i) for i, text in enumerate(["AB", "CAT", "dog"])]
    seen = []
    style = learn_lora_style(
        "red", base, tiny_pipe.base_scheduler, GlyphTokenizer(max_tokens=64), examples, None, steps=2, rank=2,
        sr=SuperResolutionPlan(sr, tiny_pipe.sr_scheduler, prior, steps=3, progress=lambda step, loss: seen.append(step)),
    )
    assert seen == [1, 2, 3] and style.sr_steps == 3
    assert {key: tuple(value.shape) for key, value in style.sr_adapter.items()} == expected_shapes(sr, 2)
    assert any(value.abs().max() > 0 for key, value in style.sr_adapter.items() if "lora_B" in key)
    assert style.model_hash == model_hash(base, sr)
    _assert_as_before(base, snapshots[0])
    _assert_as_before(sr, snapshots[1])
    with pytest.raises(UnusableStyleError, match="SR steps must be at least 1"):
        learn_lora_style("x", base, tiny_pipe.base_scheduler, GlyphTokenizer(max_tokens=64), examples, None, steps=1,
                         sr=SuperResolutionPlan(sr, tiny_pipe.sr_scheduler, None, steps=0))


def test_learning_refuses_bad_ranks_and_steps(tiny_pipe):
    examples = [_example(text, i) for i, text in enumerate(["AB", "CAT", "dog"])]
    unet, scheduler, tokenizer = tiny_pipe.base_unet, tiny_pipe.base_scheduler, GlyphTokenizer(max_tokens=64)
    with pytest.raises(UnusableStyleError, match="rank is 1 to 64; got 0"):
        learn_lora_style("x", unet, scheduler, tokenizer, examples, None, steps=1, rank=0)
    with pytest.raises(UnusableStyleError, match="steps must be at least 1"):
        learn_lora_style("x", unet, scheduler, tokenizer, examples, None, steps=0)


def test_the_pipeline_draws_a_lora_style_for_the_call_only(tiny_pipe):
    style = _lora_style(tiny_pipe.base_unet).without_palette()
    plain = tiny_pipe("AB", seed=4, num_inference_steps=2, sr_num_inference_steps=2, output_type="pt").images
    styled = tiny_pipe("AB", seed=4, num_inference_steps=2, sr_num_inference_steps=2, output_type="pt", style=style, style_strength=1.0).images
    assert (styled - plain).abs().max() > 1e-3
    assert not has_adapter(tiny_pipe.base_unet)
    again = tiny_pipe("AB", seed=4, num_inference_steps=2, sr_num_inference_steps=2, output_type="pt").images
    torch.testing.assert_close(again, plain, atol=0, rtol=0)


def test_a_pipeline_call_draws_its_sr_stage_with_the_styles_sr_adapter(tiny_pipe, monkeypatch):
    style = _lora_style(tiny_pipe.base_unet, sr_adapter=_random_adapter(tiny_pipe.sr_unet)).without_palette()
    adapted = []
    real_upscale = tiny_pipe.upscale

    def upscale(*args, **kwargs):
        adapted.append(has_adapter(tiny_pipe.sr_unet))
        return real_upscale(*args, **kwargs)

    monkeypatch.setattr(tiny_pipe, "upscale", upscale)
    tiny_pipe("AB", seed=4, num_inference_steps=1, sr_num_inference_steps=1, output_type="pt", style=style, style_strength=1.0)
    tiny_pipe("AB", seed=4, num_inference_steps=1, sr_num_inference_steps=1, output_type="pt")
    assert adapted == [True, False]
    assert not has_adapter(tiny_pipe.sr_unet)


def test_the_pipelines_styled_block_adapts_both_stages_for_the_block_only(tiny_pipe):
    base, sr = tiny_pipe.base_unet, tiny_pipe.sr_unet
    style = _lora_style(base, sr_adapter=_random_adapter(sr))
    size = sr.config.sample_size
    sample, tokens, glyph = (torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2)), *_inputs()[1:])
    low = torch.rand(1, 3, base.config.sample_size, base.config.sample_size, generator=torch.Generator().manual_seed(3))

    def draw_sr() -> torch.Tensor:
        with torch.no_grad():
            return sr(sample, 500, tokens.input_ids, tokens.attention_mask, tokens.line_ids, low_res=low, noise_level=10,
                      glyph=torch.nn.functional.interpolate(glyph, size=size)).sample

    plain, snapshots = draw_sr(), (_snapshot(base), _snapshot(sr))
    with pytest.raises(RuntimeError, match="half-way"):
        with tiny_pipe.styled(style, 1.0):
            assert has_adapter(base) and has_adapter(sr)
            assert (draw_sr() - plain).abs().max() > 1e-3
            raise RuntimeError("the SR stage failed half-way")
    _assert_as_before(base, snapshots[0])
    _assert_as_before(sr, snapshots[1])
    torch.testing.assert_close(draw_sr(), plain, atol=0, rtol=0)


@pytest.mark.parametrize("transcripts", ["5", '"AB"', '{"a": 1}', "[1, 2]", "not json"])
def test_a_style_file_with_malformed_transcripts_is_a_style_error(tiny_base, transcripts):
    from safetensors.torch import load, save

    from generation.styles import _metadata

    data = _lora_style(tiny_base).to_bytes()
    metadata = {**_metadata(data), "transcripts": transcripts}
    with pytest.raises(UnusableStyleError, match="not a glyphbot-style-2 file|not a glyphbot style"):
        StyleTokens.from_bytes(save(load(data), metadata=metadata))


def test_the_prior_term_sees_the_letters_shapes_not_their_colours():
    from generation.style_adapters import _letter_detail_error

    glyph = torch.zeros(1, 1, 16, 16)
    glyph[..., 6:10, 4:12] = 1.0
    target = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    recoloured = target + torch.tensor([0.5, -0.3, 0.2])[None, :, None, None]  # another colour, the same shapes
    assert _letter_detail_error(recoloured, target, glyph) < 1e-10
    elsewhere = target.clone()
    elsewhere[..., 0:3, 0:3] = 1.0  # a change far from the letters
    assert _letter_detail_error(elsewhere, target, glyph) < 1e-10
    smudged = target.clone()
    smudged[..., 6:10, 4:12] = target[..., 6:10, 4:12].mean()  # the letters' strokes gone
    assert _letter_detail_error(smudged, target, glyph) > 1e-3
