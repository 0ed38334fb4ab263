"""CascadeRenderer's styles, photo boxes and tweens on tiny models: tween jobs (frames + one chosen GIF), text into a box of
a photo (every pixel outside the box stays the photo's), learned styles and reference pictures, and
the checks that refuse bad requests before anything is drawn."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from bot.render.cascade import CascadeRenderer
from generation.colour import Palette
from generation.film_grain import GRAIN_LEVELS, FilmGrain
from generation.photo import BoxError
from generation.pipeline import ImageInputError, OptionError
from generation.style_adapters import expected_shapes, has_adapter
from generation.styles import StyleTokens, UnusableStyleError, model_hash
from generation.tokenizer import PromptError
from generation.tween import TweenError
from generation.types import Progress, RenderRequest
from ocr.policy import OcrSettings

PHOTO_BOX = (8, 30, 80, 36)


@pytest.fixture
def renderer(tiny_pipe):
    return CascadeRenderer(tiny_pipe, OcrSettings(parallel_workers=1))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _photo(width: int = 96, height: int = 96) -> Image.Image:
    rng = np.random.default_rng(5)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _request(prompt: str = "AB", **changes) -> RenderRequest:
    base = RenderRequest(prompt=prompt, seed=3, candidates=2, num_inference_steps=2, sr_num_inference_steps=1,
                         scheduler="ddim", guidance_scale=2.0)
    return replace(base, **changes)


RED = Palette(torch.tensor([0.9, 0.9, 0.9]), torch.full((3,), 0.05), torch.tensor([0.6, -1.0, -1.0]), torch.full((3,), 0.05))


def _style_bytes(renderer: CascadeRenderer, width: int = 32, slots: int = 2, learned_on: str | None = None) -> bytes:
    """A vectors style learned (by its record) on the renderer's base model, or on the model hashed `learned_on`."""
    vectors = torch.randn(slots, width, generator=torch.Generator().manual_seed(0))
    return StyleTokens("red", vectors, RED, learned_on or model_hash(renderer.pipeline.base_unet), 5, 0.1).to_bytes()


def _lora_bytes(renderer: CascadeRenderer, palette: Palette | None = RED, grain: FilmGrain | None = None) -> bytes:
    unet = renderer.pipeline.base_unet
    generator = torch.Generator().manual_seed(5)
    adapter = {key: torch.randn(shape, generator=generator) * 0.3 for key, shape in expected_shapes(unet, 2).items()}
    return StyleTokens("neon", None, palette, model_hash(unet), 5, 0.1, adapter, 2, ("AB", "CD", "EF"), grain=grain).to_bytes()


# ------------------------------------------------------------------ tween


def test_a_tween_job_returns_every_frame_and_one_chosen_gif(renderer):
    heard: list[Progress] = []
    result = renderer.render(_request("AB", kind="tween", end_prompt="CD", frames=3, candidates=1), heard.append)
    stages = [image.stage for image in result.images]
    assert stages == ["frame", "frame", "frame", "gif"]
    assert [image.chosen for image in result.images] == [False, False, False, True]
    assert result.winner.stage == "gif"
    assert all(image.seed == 3 for image in result.images)
    gif = Image.open(io.BytesIO(result.winner.png))
    assert gif.format == "GIF" and gif.n_frames == 3 and gif.size == (32, 32)
    for frame in result.images[:3]:
        assert Image.open(io.BytesIO(frame.png)).format == "PNG"
        assert (frame.width, frame.height) == (32, 32)
    assert {event.stage for event in heard} == {"base", "sr"}


@pytest.mark.parametrize("changes, named", [
    ({"init_image_png": _png(_photo())}, "picture"), ({"style": "red"}, "style"), ({"negative_prompt": "EF"}, "negative prompt"),
    ({"style_image_png": _png(_photo())}, "reference picture"), ({"layout": "none"}, "glyph-free layout"),
])
def test_a_tween_refuses_single_picture_options_by_name(renderer, changes, named):
    request = _request("AB", kind="tween", end_prompt="CD", frames=3, candidates=1, **changes)
    with pytest.raises(OptionError, match=f"a tween takes no {named}"):
        renderer.check(request)
    with pytest.raises(OptionError, match=f"a tween takes no {named}"):
        renderer.render(request)


def test_a_tween_over_the_gif_limit_fails_naming_the_limit(tiny_pipe):
    small = CascadeRenderer(tiny_pipe, OcrSettings(parallel_workers=1), max_gif_bytes=100)
    with pytest.raises(TweenError, match="limit"):
        small.render(_request("AB", kind="tween", end_prompt="CD", frames=2, num_inference_steps=1, sr_num_inference_steps=1))


# ------------------------------------------------------------------ box in a photo


def test_box_mode_changes_only_the_box_of_the_photo(renderer):
    photo = _photo()
    request = _request("AB", init_image_png=_png(photo), box=PHOTO_BOX)
    result = renderer.render(request)
    stages = [image.stage for image in result.images]
    assert stages.count("base") == 2 and stages.count("sr") >= 1
    assert sum(image.chosen for image in result.images) == 1
    before = np.asarray(photo)
    x, y, w, h = PHOTO_BOX
    outside = np.ones(before.shape[:2], bool)
    outside[y : y + h, x : x + w] = False
    for image in result.images:
        after = _pixels(image.png)
        assert after.shape == before.shape, image.stage
        assert np.array_equal(after[outside], before[outside]), f"{image.stage} candidate changed pixels outside the box"
        assert not np.array_equal(after[~outside], before[~outside])
        assert image.ocr_score is not None


def test_render_batch_of_one_box_or_tween_job_goes_to_render(renderer, monkeypatch):
    calls = []
    monkeypatch.setattr(renderer, "render", lambda request, progress=None: calls.append(request) or "rendered")
    box = _request("AB", init_image_png=_png(_photo()), box=PHOTO_BOX)
    tween = _request("AB", kind="tween", end_prompt="CD")
    assert renderer.render_batch([box], [None]) == ["rendered"]
    assert renderer.render_batch([tween], [None]) == ["rendered"]
    assert calls == [box, tween]


# ------------------------------------------------------------------ styles


def test_a_learned_style_changes_the_picture(renderer):
    renderer.pipeline.sr_unet = None  # the base stage reads the style; the SR stage's colour guidance is tested in test_colour_guidance
    plain = renderer.render(_request("AB", candidates=1))
    styled = renderer.render(_request("AB", candidates=1, style="red", style_tokens=_style_bytes(renderer), style_strength=1.0))
    assert [i.stage for i in styled.images] == [i.stage for i in plain.images] == ["base"]
    assert not np.array_equal(_pixels(styled.winner.png), _pixels(plain.winner.png))


def test_a_lora_style_changes_the_picture_for_its_own_job_only(renderer):
    plain = renderer.render(_request("AB", candidates=1))
    styled = renderer.render(_request("AB", candidates=1, style="neon", style_tokens=_lora_bytes(renderer, palette=None), style_strength=1.0))
    assert not np.array_equal(_pixels(styled.winner.png), _pixels(plain.winner.png))
    assert not has_adapter(renderer.pipeline.base_unet)
    again = renderer.render(_request("AB", candidates=1))
    assert np.array_equal(_pixels(again.winner.png), _pixels(plain.winner.png))


def test_a_styles_grain_is_added_to_the_final_candidates_at_the_jobs_strength(renderer):
    grain = FilmGrain((25.0,) * GRAIN_LEVELS, 0.3)
    request = _request("AB", candidates=1, style="neon", style_tokens=_lora_bytes(renderer, palette=None), style_strength=0.8)
    smooth = renderer.render(request)
    grained = renderer.render(replace(request, style_tokens=_lora_bytes(renderer, palette=None, grain=grain)))
    base = [image for image in grained.images if image.stage == "base"]
    assert [_pixels(image.png).tolist() for image in base] == [_pixels(image.png).tolist() for image in smooth.images if image.stage == "base"]
    added = _pixels(grained.winner.png).astype(np.float32) - _pixels(smooth.winner.png)
    assert 0.8 * 25 * 0.5 < added.std() < 0.8 * 25 * 1.5  # grain on the final picture, scaled by the job's strength


def test_a_lora_style_is_taken_out_when_its_job_fails_half_way(renderer, monkeypatch):
    plain = renderer.render(_request("AB", candidates=1))
    seen = []

    def failing_upscale(*args, **kwargs):
        seen.append(has_adapter(renderer.pipeline.base_unet))
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    with monkeypatch.context() as patch:
        patch.setattr(renderer.pipeline, "upscale", failing_upscale)
        with pytest.raises(RuntimeError, match="illegal memory access"):
            renderer.render(_request("AB", candidates=1, style_tokens=_lora_bytes(renderer), style_strength=1.0))
    assert seen == [True]  # the adapter was in while the job ran
    assert not has_adapter(renderer.pipeline.base_unet)
    assert np.array_equal(_pixels(renderer.render(_request("AB", candidates=1)).winner.png), _pixels(plain.winner.png))


def test_the_reference_picture_wins_over_the_style_palette(renderer):
    from generation.guidance import ColourGuidance

    layouts = renderer.pipeline.layouts(["AB"], [0])
    blue = _png(Image.new("RGB", (30, 50), (0, 0, 255)))
    [guidance] = renderer._steering(_request(style_image_png=blue, style_strength=0.7), None, layouts, 16)
    assert isinstance(guidance, ColourGuidance) and guidance.strength == 0.7
    torch.testing.assert_close(guidance.reference.background_mean, torch.tensor([-1.0, -1.0, 1.0]))
    style = StyleTokens.from_bytes(_style_bytes(renderer))
    [from_style] = renderer._steering(_request(), style, layouts, 16)
    assert from_style.reference is style.palette
    [from_picture] = renderer._steering(_request(style_image_png=blue), style, layouts, 16)
    torch.testing.assert_close(from_picture.reference.background_mean, torch.tensor([-1.0, -1.0, 1.0]))
    assert renderer._steering(_request(), None, layouts, 16) == []


def test_text_in_a_photo_is_steered_onto_the_photos_own_ground_unless_a_look_is_asked(renderer):
    from generation.guidance import BoxGround, ColourGuidance, KeepRegion
    from generation.photo import box_layout, plan_photo

    photo = plan_photo(_photo(), PHOTO_BOX)
    layouts = [box_layout(photo, "AB", 0)]
    ground, keep = renderer._steering(_request(), None, layouts, 16, photo)
    assert isinstance(ground, BoxGround) and isinstance(keep, KeepRegion)
    blue = _png(Image.new("RGB", (30, 50), (0, 0, 255)))
    looked, keep = renderer._steering(_request(style_image_png=blue), None, layouts, 16, photo)
    assert isinstance(looked, ColourGuidance) and isinstance(keep, KeepRegion)  # an asked look wins


def test_styled_requests_are_never_batched_together(renderer):
    styled = _request("AB", style_tokens=_style_bytes(renderer))
    with pytest.raises(ValueError, match="render them apart"):
        renderer.render_batch([styled, styled], [None, None])
    tween = _request("AB", kind="tween", end_prompt="CD")
    with pytest.raises(ValueError, match="render them apart"):
        renderer.render_batch([tween, _request("EF")], [None, None])


# ------------------------------------------------------------------ check()


@pytest.mark.parametrize("change, error, message", [
    (dict(box=PHOTO_BOX), ImageInputError, r"a box needs a picture to write into \(--image\)"),
    (dict(box=(50, 30, 80, 36), init_image_png="photo"), BoxError, "right edge"),
    (dict(box=(8, 80, 40, 36), init_image_png="photo"), BoxError, "bottom edge"),
    (dict(prompt="A LONG LINE OF TEXT FOR A TINY BOX", box=(8, 8, 20, 16), init_image_png="photo"), BoxError, "too small for this text"),
    (dict(style="ink", style_strength=0.0), OptionError, "style strength"),
    (dict(style="ink", style_strength=1.5), OptionError, "style strength"),
    (dict(style="ink", style_strength=-0.2), OptionError, "style strength"),
    (dict(kind="tween", end_prompt="AB "), TweenError, "same text"),
    (dict(kind="tween", end_prompt="CD", frames=1), OptionError, "frames 1 is outside"),
    (dict(kind="tween", end_prompt="CD", frames=49), OptionError, "frames 49 is outside"),
    (dict(kind="tween", end_prompt="a\x07b"), PromptError, r"\\x07"),
    (dict(kind="sketch"), OptionError, "job kind 'sketch' is not one of imagine, tween"),
    (dict(style_image_png=b"not a png"), ImageInputError, "the style image cannot be read"),
    (dict(style_image_png=b"\x89PNG\r\n\x1a\n" + b"\x00" * 20), ImageInputError, "the style image cannot be read"),
    (dict(init_image_png=b"junk", box=PHOTO_BOX), ImageInputError, "the init image cannot be read"),
    (dict(style_tokens=b"garbage"), UnusableStyleError, "not a glyphbot style"),
    (dict(style_tokens="narrow"), UnusableStyleError, "16-wide vectors"),
    (dict(style_tokens="stale"), UnusableStyleError, r"style 'red' was learned on another base model.*`glyphbot style relearn red`"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_bad_requests_are_refused_before_anything_is_drawn(renderer, change, error, message):
    change = dict(change)
    if change.get("init_image_png") == "photo":
        change["init_image_png"] = _png(_photo())
    if change.get("style_tokens") == "narrow":
        change["style_tokens"] = _style_bytes(renderer, width=16)
    if change.get("style_tokens") == "stale":
        change["style_tokens"] = _style_bytes(renderer, learned_on="0123456789abcdef")
    with pytest.raises(error, match=message):
        renderer.check(_request(**change))


def test_good_style_photo_and_tween_requests_pass_the_check(renderer):
    renderer.check(_request(init_image_png=_png(_photo()), box=PHOTO_BOX))
    renderer.check(_request(init_image_png=_png(_photo(200, 96)), box=(8, 30, 180, 36)))  # a non-square photo is fine in box mode
    renderer.check(_request(kind="tween", end_prompt="CD", frames=2))
    renderer.check(_request(style_tokens=_style_bytes(renderer), style_strength=1.0))
    renderer.check(_request(style_tokens=_lora_bytes(renderer), style_strength=1.0))
    renderer.check(_request(style_image_png=_png(Image.new("RGB", (40, 20), (10, 20, 30)))))


def test_a_non_square_img2img_picture_without_a_box_is_still_refused(renderer):
    with pytest.raises(ImageInputError, match="square"):
        renderer.check(_request(init_image_png=_png(_photo(200, 96))))


def test_a_meme_of_the_users_picture_keeps_it_outside_the_captions(renderer):
    """`--image P --template meme`: captions are written over the picture; outside the captions' boxes
    (and the fade at their edges) every pixel is the user's, at both stages."""
    from generation.captioned_picture import MARGIN, CaptionedPicture

    photo = _photo(120, 96)  # not square: its centred square is captioned
    request = _request("TOP TEXT\nBOTTOM TEXT", init_image_png=_png(photo), template="meme")
    renderer.check(request)
    result = renderer.render(request)
    square = CaptionedPicture.of(photo)
    for image in result.images:
        after = _pixels(image.png)
        size = after.shape[0]
        expected = np.asarray(square.picture.resize((size, size), Image.Resampling.LANCZOS))
        layout = square.layouts(request.prompt, [image.seed if image.stage == "base" else 3])[0]
        untouched = np.ones((size, size), bool)
        for left, top, right, bottom in layout.text_boxes():
            pad = MARGIN + 0.03
            untouched[int(max(0, top - pad) * size) : int(min(1, bottom + pad) * size) + 1, int(max(0, left - pad) * size) : int(min(1, right + pad) * size) + 1] = False
        if image.stage == "base":
            assert np.array_equal(after[untouched], expected[untouched])
        assert not np.array_equal(after, expected)
    assert sum(image.chosen for image in result.images) == 1
