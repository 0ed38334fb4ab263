"""CascadeRenderer: the cascade plus OCR reranking, one job or a GPU batch of compatible jobs."""

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from bot.render.cascade import CascadeRenderer
from generation.pipeline import ImageInputError, OptionError
from generation.tokenizer import PromptError
from generation.types import Progress, RenderRequest
from ocr.policy import OcrSettings


@pytest.fixture
def renderer(tiny_pipe):
    return CascadeRenderer(tiny_pipe, OcrSettings(parallel_workers=1))


def _request(prompt: str, seed: int, **changes) -> RenderRequest:
    base = RenderRequest(prompt=prompt, seed=seed, candidates=2, num_inference_steps=3, sr_num_inference_steps=2,
                         scheduler="ddim", guidance_scale=2.0)
    return replace(base, **changes)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def test_a_batch_draws_what_each_job_would_draw_alone(renderer):
    requests = [_request("AB", 5), _request("cd\nef", 40, negative_prompt="x")]
    together = renderer.render_batch(requests, [None, None])
    for request, batched in zip(requests, together):
        alone = renderer.render(request)
        assert [(i.stage, i.seed) for i in batched.images] == [(i.stage, i.seed) for i in alone.images]
        for a, b in zip(batched.images, alone.images):
            # batch size moves float rounding, which the randomly woken tiny models amplify a little
            difference = np.abs(_pixels(a.png) - _pixels(b.png))
            assert difference.max() <= 6 and difference.mean() < 0.5
        assert sum(i.chosen for i in batched.images) == 1


def test_every_job_in_a_batch_hears_its_progress_and_gets_its_preview(renderer):
    heard = {0: [], 1: []}
    renderer.render_batch([_request("AB", 1), _request("CD", 2)], [heard[0].append, heard[1].append])
    for events in heard.values():
        base = [e for e in events if e.stage == "base"]
        assert [e.step for e in base if e.preview_png is None] == [1, 2, 3]
        assert sum(e.preview_png is not None for e in base) == 1
        assert any(e.stage == "sr" for e in events)


def test_a_cancelled_job_leaves_the_batch_and_the_others_finish(renderer):
    def cancelled(_: Progress) -> None:
        raise RuntimeError("job was cancelled")

    kept, dropped = renderer.render_batch([_request("AB", 1), _request("CD", 2)], [None, cancelled])
    assert sum(i.chosen for i in kept.images) == 1 and dropped.images == []
    with pytest.raises(RuntimeError, match="cancelled"):
        renderer.render(_request("CD", 2), cancelled)


@pytest.mark.parametrize("change", [dict(guidance_scale=3.0), dict(num_inference_steps=4), dict(scheduler="ddpm")])
def test_jobs_that_cannot_share_a_base_batch_are_refused(renderer, change):
    with pytest.raises(ValueError, match="render them apart"):
        renderer.render_batch([_request("AB", 1), _request("CD", 2, **change)], [None, None])


def _png_of(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(negative_prompt="bell\x07"), PromptError, "control"),
        (dict(negative_prompt="x" * 200), PromptError, "limit"),
        (dict(sr_num_inference_steps=0), OptionError, "super-resolution inference steps"),
        (dict(guidance_scale=99.0), OptionError, "guidance"),
        (dict(style_image_png=_png_of((8, 8)), style_strength=0.0), OptionError, "style strength"),
        (dict(init_image_png=_png_of((8, 8)), strength=1.5), OptionError, "strength"),
        (dict(init_image_png=b"\x89PNG broken"), ImageInputError, "cannot be read"),
        (dict(init_image_png=_png_of((8, 6))), ImageInputError, "square"),
        (dict(font="NoSuchFont"), PromptError, "unknown font"),
        (dict(align="justify"), OptionError, "alignment"),
        (dict(layout="fancy"), OptionError, "layout"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_drawn(renderer, change, error, message):
    with pytest.raises(error, match=message):
        renderer.check(_request("AB", 1, **change))
    renderer.check(_request("AB", 1, init_image_png=_png_of((8, 8))))


def test_each_sr_candidate_follows_the_layout_of_the_base_candidate_it_came_from(renderer, tiny_pipe):
    """The SR stage must draw the same layout, at its own size, as the base candidate it upscales."""
    seen = []
    original = tiny_pipe.upscale

    def spy(prompts, low_res, *args, layouts=None, **kwargs):
        seen.extend(layouts)
        return original(prompts, low_res, *args, layouts=layouts, **kwargs)

    tiny_pipe.upscale = spy
    request = _request("OPEN\nlate", 21, candidates=3)
    result = renderer.render(request)
    base_layouts = tiny_pipe.layouts(["OPEN\nlate"] * 3, [21, 22, 23])
    assert seen and all(layout in base_layouts for layout in seen)
    assert any(image.stage == "sr" and image.chosen for image in result.images)


def test_layout_none_renders_without_glyph_maps(renderer):
    result = renderer.render(_request("AB", 3, layout="none"))
    assert sum(image.chosen for image in result.images) == 1


def test_the_renderer_and_the_pipeline_call_share_one_seed_scheme(renderer, tiny_pipe):
    """One seed redraws one picture however the cascade is run: the renderer's single candidate is the
    pipeline's own `__call__` for that seed, base and super-resolution stage alike."""
    request = _request("AB", 11, candidates=1)
    [winner] = [image for image in renderer.render(request).images if image.stage == "sr"]
    called = tiny_pipe("AB", seed=11, guidance_scale=request.guidance_scale,
                       sr_guidance_scale=request.sr_guidance_scale, num_inference_steps=3, sr_num_inference_steps=2,
                       scheduler="ddim", output_type="np")
    drawn = np.round(called.images[0] * 255).astype(np.int16)
    assert np.abs(_pixels(winner.png) - drawn).max() <= 1
