import pytest
import torch
from PIL import Image

from generation.pipeline import GlyphCascadePipeline, ImageInputError, OptionError
from generation.schedulers import training_scheduler
from generation.tokenizer import PromptError

FAST = dict(num_inference_steps=3, sr_num_inference_steps=2, output_type="pt")


@pytest.mark.parametrize("scheduler", ["ddpm", "ddim", "dpmsolver"])
def test_cascade_shapes_and_seeds(tiny_pipe, scheduler):
    out = tiny_pipe(["hi\nthere", "yo"], num_images_per_prompt=2, seed=5, scheduler=scheduler, **FAST)
    assert out.images.shape == (4, 3, 32, 32)
    assert out.base_images.shape == (4, 3, 16, 16)
    assert out.seeds == [5, 6, 7, 8]
    assert out.images.min() >= -1 and out.images.max() <= 1


def test_pil_output(tiny_pipe):
    out = tiny_pipe("hi", seed=1, **{**FAST, "output_type": "pil"})
    assert isinstance(out.images[0], Image.Image) and out.images[0].size == (32, 32)
    assert out.base_images[0].size == (16, 16)


def test_same_seed_same_pixels_whatever_the_batch(tiny_pipe):
    alone = tiny_pipe("hi", seed=3, scheduler="ddpm", **FAST).images[0]
    batched = tiny_pipe(["zz", "hi"], seed=[9, 3], scheduler="ddpm", **FAST).images[1]
    # Float noise only: batch-size-dependent matmul kernels differ by up to 2e-5 on AVX2-only CPUs.
    assert torch.allclose(alone, batched, atol=1e-4)
    other = tiny_pipe("hi", seed=4, scheduler="ddpm", **FAST).images[0]
    assert not torch.allclose(alone, other, atol=1e-3)


def test_generator_gives_reproducible_seeds(tiny_pipe):
    first = tiny_pipe("hi", generator=torch.Generator().manual_seed(0), **FAST)
    second = tiny_pipe("hi", generator=torch.Generator().manual_seed(0), **FAST)
    assert first.seeds == second.seeds and torch.equal(first.images, second.images)


def _branches(pipe, prompt, negative):
    """Record the token batches the base model sees, per forward call."""
    seen = []
    original = pipe.base_unet.forward

    def spy(sample, timestep, input_ids, *args, **kwargs):
        seen.append([pipe.tokenizer.decode(row.tolist()) for row in input_ids])
        return original(sample, timestep, input_ids, *args, **kwargs)

    pipe.base_unet.forward = spy
    return seen


@pytest.mark.parametrize("guidance, expected", [(0.0, "uncond"), (1.0, "cond")])
def test_guidance_0_and_1_are_the_plain_branches(tiny_pipe, guidance, expected):
    seen = _branches(tiny_pipe, "hello", None)
    tiny_pipe.generate_base(["hello"], seeds=[1], guidance_scale=guidance, num_inference_steps=2)
    assert all(len(batch) == 1 for batch in seen)
    assert seen[0] == (["hello"] if expected == "cond" else [""])


def test_guided_prediction_matches_the_formula(tiny_pipe):
    cond, uncond = tiny_pipe._conditioning(["hello"], ["blurry"])
    sample, t = torch.randn(1, 3, 16, 16), torch.tensor(500)
    def predict(g):
        return tiny_pipe._model_output(tiny_pipe.base_unet, sample, t, cond, uncond, g, {})
    plain_uncond, plain_cond = predict(0.0), predict(1.0)
    assert torch.allclose(predict(3.0), plain_uncond + 3.0 * (plain_cond - plain_uncond), atol=1e-4)


def test_negative_prompt_enters_only_the_unconditional_branch(tiny_pipe):
    seen = _branches(tiny_pipe, "hello", "blurry")
    tiny_pipe.generate_base(["hello"], negative_prompts=["blurry"], seeds=[1], guidance_scale=2.0, num_inference_steps=2)
    assert seen[0] == ["blurry", "hello"]
    seen.clear()
    tiny_pipe.generate_base(["hello"], seeds=[1], guidance_scale=2.0, num_inference_steps=2)
    assert seen[0] == ["", "hello"]  # the mask prompt decodes to nothing


def test_negative_prompt_changes_the_result(tiny_pipe):
    plain = tiny_pipe("hello", seed=1, **FAST).images
    negated = tiny_pipe("hello", negative_prompt="hello", seed=1, **FAST).images
    assert not torch.allclose(plain, negated, atol=1e-4)


def test_img2img_strength_zero_returns_the_input(tiny_pipe):
    init = torch.rand(1, 3, 16, 16) * 2 - 1
    out = tiny_pipe.generate_base(["x"], image=init, strength=0.0, num_inference_steps=5)
    assert torch.equal(out, init)


def test_img2img_from_pil_keeps_the_structure_at_low_strength(tiny_pipe):
    image = Image.new("RGB", (64, 64), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 32, 64))
    out = tiny_pipe.generate_base(["x"], image=image, strength=0.2, num_inference_steps=10, scheduler="ddim", seeds=[0])
    assert out[0, :, :, :8].mean() < out[0, :, :, 8:].mean()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(prompt=[]), PromptError, "empty"),
        (dict(prompt="x" * 100), PromptError, "limit"),
        (dict(prompt="bell\x07"), PromptError, "control"),
        (dict(prompt="hi", guidance_scale=-0.5), OptionError, "guidance_scale"),
        (dict(prompt="hi", num_inference_steps=0), OptionError, "num_inference_steps"),
        (dict(prompt="hi", sr_num_inference_steps=0), OptionError, "num_inference_steps"),
        (dict(prompt="hi", strength=1.5, image=Image.new("RGB", (16, 16))), OptionError, "strength"),
        (dict(prompt="hi", strength=-0.1, image=Image.new("RGB", (16, 16))), OptionError, "strength"),
        (dict(prompt="hi", image=Image.new("RGB", (16, 20))), ImageInputError, "square"),
        (dict(prompt="hi", image=Image.new("CMYK", (16, 16))), ImageInputError, "mode CMYK"),
        (dict(prompt="hi", image=torch.zeros(1, 3, 8, 8)), ImageInputError, "shape"),
        (dict(prompt="hi", scheduler="euler"), OptionError, "unknown scheduler"),
        (dict(prompt="hi", num_images_per_prompt=0), OptionError, "num_images_per_prompt"),
        (dict(prompt="hi", seed=-1), OptionError, "seed"),
        (dict(prompt="hi", sr_noise_level=5000), OptionError, "noise_level"),
        (dict(prompt="hi", sr_noise_level=251), OptionError, "most the SR model was trained on"),
        (dict(prompt=["a", "b"], negative_prompt=["x"]), PromptError, "negative prompts"),
    ],
)
def test_bad_inputs_raise_specific_errors(tiny_pipe, kwargs, error, match):
    with pytest.raises(error, match=match):
        tiny_pipe(**{**FAST, **kwargs})


def test_progress_callback_reports_both_stages(tiny_pipe):
    events = []
    tiny_pipe("hi", seed=0, callback_on_step_end=lambda pipe, step, t, kw: events.append((kw["stage"], step, kw["total_steps"])), **FAST)
    assert events == [("base", 0, 3), ("base", 1, 3), ("base", 2, 3), ("sr", 0, 2), ("sr", 1, 2)]


def test_pipeline_needs_at_least_one_model():
    with pytest.raises(ValueError, match="needs a base model"):
        GlyphCascadePipeline(None, None)


def test_sr_only_pipeline_upscales(tiny_sr):
    pipe = GlyphCascadePipeline(None, None, tiny_sr, training_scheduler())
    pipe.set_progress_bar_config(disable=True)
    out = pipe.upscale(["hi"], torch.zeros(1, 3, 16, 16), seeds=[0], num_inference_steps=2)
    assert out.shape == (1, 3, 32, 32)
    with pytest.raises(RuntimeError, match="no base model"):
        pipe.generate_base(["hi"])


def _glyphs_seen(pipe, unet_name="base_unet"):
    """Record the glyph maps a model sees, per forward call."""
    seen = []
    unet = getattr(pipe, unet_name)
    original = unet.forward

    def spy(*args, glyph=None, **kwargs):
        seen.append(None if glyph is None else glyph.clone())
        return original(*args, glyph=glyph, **kwargs)

    unet.forward = spy
    return seen


def test_each_candidate_is_laid_out_from_its_own_seed(tiny_pipe):
    out = tiny_pipe("OPEN\nlate", num_images_per_prompt=3, seed=11, **FAST)
    again = tiny_pipe.layouts(["OPEN\nlate"] * 3, [11, 12, 13])
    assert out.layouts == again
    # Different seeds lay the text out differently (template, font, size or place), whatever kind of layout each drew.
    assert len({layout.glyph_map(32).tobytes() for layout in out.layouts}) == 3


def test_the_conditional_branch_reads_the_map_and_the_unconditional_a_blank(tiny_pipe):
    seen = _glyphs_seen(tiny_pipe)
    tiny_pipe.generate_base(["HELLO"], seeds=[2], guidance_scale=2.0, num_inference_steps=2)
    uncond, cond = seen[0].chunk(2)
    expected = torch.from_numpy(tiny_pipe.layouts(["HELLO"], [2])[0].glyph_map(16))
    assert torch.count_nonzero(uncond) == 0 and torch.count_nonzero(cond) > 0
    assert torch.allclose(cond[0, 0], expected)


def test_the_sr_stage_draws_the_base_candidates_layout_at_its_own_size(tiny_pipe):
    seen = _glyphs_seen(tiny_pipe, "sr_unet")
    out = tiny_pipe("HELLO", seed=4, **FAST)
    expected = torch.from_numpy(out.layouts[0].glyph_map(32))
    assert seen[0].shape == (1, 1, 32, 32) and torch.allclose(seen[0][0, 0], expected)


def test_layout_none_draws_without_a_map(tiny_pipe):
    seen = _glyphs_seen(tiny_pipe)
    out = tiny_pipe("HELLO", seed=4, layout="none", **FAST)
    assert out.layouts == [None] and all(glyph is None for glyph in seen)
    assert not torch.allclose(out.images, tiny_pipe("HELLO", seed=4, **FAST).images, atol=1e-4)


def test_font_and_alignment_pin_every_candidates_layout(tiny_pipe):
    out = tiny_pipe("HELLO", num_images_per_prompt=2, seed=0, font="DejaVuSerif-Bold", align="left", **FAST)
    assert [(layout.font_name, layout.align) for layout in out.layouts] == [("DejaVuSerif-Bold", "left")] * 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(layout="fancy"), "layout must be one of glyph, none"),
        (dict(font="NoSuchFont"), "unknown font 'NoSuchFont'"),
        (dict(align="justify"), "alignment must be one of"),
        (dict(prompt="W" * 55), "too large to be legible"),
    ],
)
def test_bad_layout_options_are_refused_before_drawing(tiny_pipe, kwargs, match):
    with pytest.raises((OptionError, PromptError), match=match):
        tiny_pipe.check_inputs([kwargs.pop("prompt", "HELLO")], None, None, **kwargs)
