import json
import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from safetensors import safe_open

from generation.data.datasets import FolderTextDataset, SyntheticTextDataset
from generation.data.render import render_text_image
from generation.layout import FontError, find_fonts
from generation.data.text_sampler import TextSampler, TextSamplerConfig, WordListError, load_vocabulary
from generation.pipeline import GlyphCascadePipeline
from generation.train import Trainer, TrainingConfig, glyph_pixel_weight
from generation.unet import GlyphUNet2DModel

from .tiny_models import tiny_config


def test_at_least_ten_fonts_are_available():
    assert len(find_fonts()) >= 10


def test_missing_fonts_are_a_clear_error(tmp_path):
    with pytest.raises(FontError, match="need at least 10"):
        find_fonts((str(tmp_path),))


def test_missing_word_list_is_a_clear_error(tmp_path):
    with pytest.raises(WordListError, match="wamerican"):
        load_vocabulary(str(tmp_path / "nope"))


def test_transcripts_respect_the_curriculum_and_skip_excluded():
    config = TextSamplerConfig(min_lines=1, max_lines=3, max_chars=40, max_line_chars=16)
    rng = random.Random(0)
    texts = [TextSampler(config).sample(rng) for _ in range(300)]
    assert all(1 <= len(t.split("\n")) <= 3 and len(t) <= 40 for t in texts)
    assert all(len(line) <= 16 for t in texts for line in t.split("\n"))
    assert any(ch.isdigit() for t in texts for ch in t) and any(t != t.lower() for t in texts)
    excluded = frozenset(texts[:50])
    again = [TextSampler(config, excluded).sample(random.Random(0)) for _ in range(5)]
    assert not set(again) & excluded


def test_rendering_is_deterministic_and_sized():
    fonts = find_fonts()
    first, layout = render_text_image("HELLO\nworld", 64, random.Random(3), fonts)
    second, _ = render_text_image("HELLO\nworld", 64, random.Random(3), fonts)
    assert first.size == (64, 64) and first.mode == "RGB"
    assert list(first.getdata()) == list(second.getdata())
    assert layout.font.endswith((".ttf", ".otf")) and layout.text == "HELLO\nworld"


def test_synthetic_dataset_yields_pixels_in_range():
    dataset = SyntheticTextDataset(32, TextSamplerConfig(max_lines=2, max_chars=12, max_line_chars=8), seed=1)
    example = next(iter(dataset))
    assert example.pixels.shape == (3, 32, 32)
    assert -1 <= float(example.pixels.min()) and float(example.pixels.max()) <= 1
    assert example.text


def test_folder_dataset_pairs_images_with_transcripts(tmp_path):
    Image.new("RGB", (40, 30), "white").save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("HELLO\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "orphan.png")
    dataset = FolderTextDataset(tmp_path, 16)
    assert len(dataset) == 1
    assert dataset[0].text == "HELLO" and dataset[0].pixels.shape == (3, 16, 16)


def test_folder_dataset_refuses_an_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no usable image\\+transcript pairs"):
        FolderTextDataset(tmp_path, 16)


STEPS = 400


def _two_signs(folder):
    """Two fixed 16 px images, "ab" and "CD", four copies each: what each prompt should bring back."""
    font = ImageFont.truetype(find_fonts()[0], 12)
    targets = {}
    for text, corner in (("ab", (1, 1)), ("CD", (3, 3))):
        image = Image.new("RGB", (16, 16), "black")
        ImageDraw.Draw(image).text(corner, text, font=font, fill="white")
        targets[text] = np.asarray(image, dtype=np.float32)
        for copy in range(4):
            image.save(folder / f"{text}{copy}.png")
            (folder / f"{text}{copy}.txt").write_text(text)
    return targets


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_training_learns_to_draw_what_the_prompt_says(tmp_path):
    """The whole conditional path end to end: after training, each prompt draws its own image.

    With a text path that cannot open (it happened: zero gains in front of random projections), the
    loss still falls but every seed draws the same picture whatever the prompt.
    """
    data = tmp_path / "data"
    data.mkdir()
    targets = _two_signs(data)
    # Half the tiny model's widths: the test is about the text path opening, not about capacity, and it
    # must stay well inside its time limit on a machine that is busy training.
    model = {**tiny_config("tiny-base"), "block_out_channels": [16, 32], "text_width": 16}
    config = TrainingConfig(
        stage="base", model=model, output_dir=str(tmp_path / "run"), steps=STEPS, batch_size=8,
        learning_rate=3e-3, warmup_steps=10, ema_decay=0.99, save_every=10_000, sample_every=10_000,
        folder_dataset=str(data),
    )
    trainer = Trainer(config, log=lambda _: None)
    result = trainer.train(progress=False)
    first, last = sum(result.losses[:20]) / 20, sum(result.losses[-20:]) / 20
    assert last < 0.2 * first, (first, last)

    pipe = GlyphCascadePipeline(trainer.ema_model(), trainer.noise_scheduler)
    pipe.set_progress_bar_config(disable=True)
    prompts = ["ab", "CD", "ab", "CD"]
    images = pipe.generate_base(prompts, seeds=[0, 0, 1, 1], num_inference_steps=20, guidance_scale=1.0, scheduler="ddim")
    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy()
    for prompt, drawn in zip(prompts, pixels):
        other = "CD" if prompt == "ab" else "ab"
        assert np.abs(drawn - targets[prompt]).mean() < np.abs(drawn - targets[other]).mean(), prompt

    info = json.loads((result.model_dir / "training.json").read_text())
    assert info["steps"] == STEPS and info["samples_seen"] == 8 * STEPS and info["device"].startswith("cpu")
    with safe_open(next(result.model_dir.glob("*.safetensors")), "pt") as weights:
        assert {weights.get_tensor(name).dtype for name in weights.keys()} == {torch.float16}


def test_training_resumes_from_its_latest_checkpoint(tmp_path):
    common = dict(
        stage="base", model=tiny_config("tiny-base"), output_dir=str(tmp_path / "run"), batch_size=2, warmup_steps=1,
        save_every=3, sample_every=1000, text=TextSamplerConfig(max_lines=1, max_chars=6, max_line_chars=6),
    )
    Trainer(TrainingConfig(steps=3, **common), log=lambda _: None).train(progress=False)
    messages = []
    trainer = Trainer(TrainingConfig(steps=5, **common), log=messages.append)
    assert trainer.step == 3 and any("resumed" in m for m in messages)
    result = trainer.train(progress=False)
    assert result.steps == 5 and len(result.losses) == 2
    # the run is the output folder: a resume adds to it, it does not start a new one
    assert json.loads((result.model_dir / "training.json").read_text())["this_run"]["samples_seen"] == 10


def test_a_wall_clock_budget_stops_the_run_cleanly_and_exports(tmp_path):
    config = TrainingConfig(
        stage="base", model=tiny_config("tiny-base"), output_dir=str(tmp_path / "run"), steps=10_000, batch_size=1,
        warmup_steps=1, save_every=10_000, sample_every=10_000, max_wall_minutes=1e-6,
        text=TextSamplerConfig(max_lines=1, max_chars=6, max_line_chars=6),
    )
    messages = []
    result = Trainer(config, log=messages.append).train(progress=False)
    assert result.steps == 1 and any("budget" in m for m in messages)
    assert json.loads((result.model_dir / "training.json").read_text())["steps"] == 1
    assert (tmp_path / "run" / "checkpoint-1").is_dir()


def test_sr_training_warm_starts_and_samples(tmp_path):
    base_dir = tmp_path / "base"
    GlyphUNet2DModel(**tiny_config("tiny-base")).save_pretrained(base_dir)
    messages = []
    config = TrainingConfig(
        stage="sr", model=tiny_config("tiny-sr"), output_dir=str(tmp_path / "sr"), steps=2, batch_size=2, warmup_steps=1,
        save_every=100, sample_every=2, low_res_size=16, warm_start_base=str(base_dir), glyph_loss_weight=4.0,
        text=TextSamplerConfig(max_lines=1, max_chars=6, max_line_chars=6),
    )
    result = Trainer(config, log=messages.append).train(progress=False)
    assert any("warm start" in m and "tensors copied" in m for m in messages)
    assert (tmp_path / "sr" / "samples" / "step-0000002.png").is_file()
    info = json.loads((result.model_dir / "training.json").read_text())
    assert info["warm_start_base"] == str(base_dir) and info["glyph_loss_weight"] == 4.0


def test_the_glyph_weighted_loss_puts_the_weight_on_the_letters_and_keeps_its_scale():
    glyphs = torch.zeros(2, 1, 16, 16)
    glyphs[0, 0, 6:9, 3:12] = 1.0  # one line of letters; the second picture has none
    weight = glyph_pixel_weight(glyphs, 4.0)
    assert weight.shape == (2, 1, 16, 16)
    assert torch.allclose(weight.mean(dim=(1, 2, 3)), torch.ones(2))  # the loss keeps its size
    letters, around, far = weight[0, 0, 7, 7], weight[0, 0, 5, 7], weight[0, 0, 0, 0]
    assert letters == around and letters / far == pytest.approx(5.0)  # the letters and their edges count 5x
    assert torch.equal(weight[1], torch.ones(1, 16, 16))  # no letters: plain MSE
    assert torch.equal(glyph_pixel_weight(glyphs, 0.0), torch.ones(2, 1, 16, 16))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(stage="middle"), "stage"),
        (dict(prediction_type="x0"), "prediction_type"),
        (dict(steps=0), "at least 1"),
        (dict(conditioning_dropout=1.0), "conditioning_dropout"),
        (dict(stage="sr"), "low_res_size"),
        (dict(max_wall_minutes=0), "max_wall_minutes"),
        (dict(glyph_loss_weight=-1.0), "glyph_loss_weight"),
    ],
)
def test_bad_training_configs_are_refused(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainingConfig(**{"stage": "base", "model": {}, "output_dir": str(tmp_path), **kwargs})


def test_sr_low_res_inputs_are_sometimes_blurred_never_moved():
    """The SR stage must learn to take letters from the glyph map when the base's picture is soft."""
    from generation.train import _degraded

    torch.manual_seed(0)
    checkers = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 2.0 - 1
    low = checkers.expand(64, 3, 16, 16).clone()
    out = _degraded(low)
    assert out.shape == low.shape
    kept = [(a == b).all() for a, b in zip(out, low)]
    assert 16 < sum(kept) < 48  # about half left as they were, the rest blurred
    blurred = out[[not k for k in kept]]
    assert blurred.abs().max() < 0.9 and abs(float(blurred.mean()) - float(low.mean())) < 0.05  # same colours, less detail


def test_folder_dataset_leaves_out_transcripts_the_model_cannot_take(tmp_path):
    for name, text in (("good", "HELLO"), ("bell", "ring\x07"), ("long", "x" * 500)):
        Image.new("RGB", (16, 16), "white").save(tmp_path / f"{name}.png")
        (tmp_path / f"{name}.txt").write_text(text)
    dataset = FolderTextDataset(tmp_path, 16)
    assert [example.text for example in dataset] == ["HELLO"]
    assert sorted(path.name for path, _ in dataset.skipped) == ["bell.txt", "long.txt"]


def test_a_continued_run_counts_on_and_draws_fresh_data(tmp_path):
    common = dict(
        stage="base", model=tiny_config("tiny-base"), batch_size=2, warmup_steps=1, save_every=1000, sample_every=1000,
        text=TextSamplerConfig(max_lines=1, max_chars=6, max_line_chars=6),
    )
    first = Trainer(TrainingConfig(output_dir=str(tmp_path / "one"), steps=2, **common), log=lambda _: None)
    first_batch = next(iter(first.loader))["texts"]
    shipped = first.train(progress=False).model_dir
    again = Trainer(TrainingConfig(output_dir=str(tmp_path / "two"), steps=2, init_from=str(shipped), **common), log=lambda _: None)
    assert again.samples_seen == 4 and again.step == 0
    assert next(iter(again.loader))["texts"] != first_batch
    result = again.train(progress=False)
    info = json.loads((result.model_dir / "training.json").read_text())
    assert info["samples_seen"] == 8 and info["this_run"]["samples_seen"] == 4


def test_bf16_on_a_cpu_that_only_emulates_it_is_refused(tmp_path, monkeypatch):
    """Emulated bf16 ran the shipped base 19x slower than fp32 on an AVX2-only CPU: refuse, naming the fix."""
    import generation.train as train

    monkeypatch.setattr(train.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="use --mixed-precision no"):
        TrainingConfig(stage="base", model={}, output_dir=str(tmp_path), mixed_precision="bf16")
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: True)
    TrainingConfig(stage="base", model={}, output_dir=str(tmp_path), mixed_precision="bf16")
