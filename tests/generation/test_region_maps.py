"""The region map: a second conditioning map of a template's non-text parts, read by both U-Nets,
grown onto trained models with zero weights, trained with its own dropout, and given to both
branches of guidance."""

import random
from itertools import islice

import numpy as np
import pytest
import torch

from generation.data.datasets import SyntheticTextDataset, collate_examples
from generation.templates import lay_out
from generation.tokenizer import GlyphTokenizer
from generation.train import Trainer, TrainingConfig
from generation.unet import GlyphUNet2DModel

from .tiny_models import tiny_config, wake


@pytest.fixture(scope="module")
def tokens():
    return GlyphTokenizer(max_tokens=64)(["hello\nworld", "hi"])


def _predict(model, tokens, sample, **extra):
    with torch.no_grad():
        return model(sample, torch.tensor([10, 700]), tokens.input_ids, tokens.attention_mask, tokens.line_ids, **extra).sample


def test_a_grown_model_predicts_exactly_what_it_did_until_trained(tiny_base, tokens):
    grown = tiny_base.with_region_channels(1)
    assert grown.config.region_channels == 1 and tiny_base.config.region_channels == 0
    sample = torch.randn(2, 3, 16, 16)
    glyph = torch.rand(2, 1, 16, 16)
    before = _predict(tiny_base, tokens, sample, glyph=glyph)
    after = _predict(grown, tokens, sample, glyph=glyph, region=torch.rand(2, 1, 16, 16))
    assert torch.allclose(before, after, atol=1e-5)  # only the order of the sums differs


def test_a_patch_stem_model_grows_its_new_channel_after_the_others(tokens):
    config = {**tiny_config("tiny-base"), "sample_size": 32, "patch_size": 2}
    model = wake(GlyphUNet2DModel(**config), 3)
    grown = model.with_region_channels(1)
    assert grown.conv_in.weight.shape[1] == model.conv_in.weight.shape[1] + 4
    assert torch.equal(grown.conv_in.weight[:, : model.conv_in.weight.shape[1]], model.conv_in.weight)
    assert not grown.conv_in.weight[:, model.conv_in.weight.shape[1] :].any()


def test_the_region_map_changes_the_prediction_and_none_means_blank(tokens):
    model = wake(GlyphUNet2DModel(**{**tiny_config("tiny-base"), "region_channels": 1}), 4)
    sample = torch.randn(2, 3, 16, 16)
    blank = _predict(model, tokens, sample)
    assert torch.equal(blank, _predict(model, tokens, sample, region=torch.zeros(2, 1, 16, 16)))
    assert not torch.allclose(blank, _predict(model, tokens, sample, region=torch.ones(2, 1, 16, 16)))
    with pytest.raises(ValueError, match="region map has shape"):
        _predict(model, tokens, sample, region=torch.ones(2, 1, 8, 8))


def test_a_model_without_region_channels_refuses_a_map(tiny_base, tokens):
    with pytest.raises(ValueError, match="without region channels"):
        _predict(tiny_base, tokens, torch.randn(2, 3, 16, 16), region=torch.ones(2, 1, 16, 16))


def test_template_examples_carry_their_maps_and_transcripts():
    examples = list(islice(SyntheticTextDataset(64, seed=3, template_share=1.0), 12))
    batch = collate_examples(examples)
    assert batch["regions"].shape == batch["glyphs"].shape == (12, 1, 64, 64)
    assert batch["pixels"].min() >= -1 and batch["pixels"].max() <= 1
    assert all(example.glyph.sum() > 0 for example in examples)
    assert sum(example.region.sum() > 0 for example in examples) >= 9  # every template but a rare fallback has regions
    assert any(len(example.text) > 60 for example in examples)


def test_cards_alone_keep_a_blank_region_map():
    examples = list(islice(SyntheticTextDataset(32, seed=1, template_share=0.0), 4))
    assert all(not example.region.any() for example in examples)


def test_template_training_grows_a_continued_model_and_trains_with_regions(tmp_path):
    common = dict(stage="base", batch_size=2, warmup_steps=1, save_every=1000, sample_every=1000, template_share=1.0)
    first = Trainer(TrainingConfig(output_dir=str(tmp_path / "one"), steps=1, model=tiny_config("tiny-base"), **common), log=lambda _: None)
    shipped = first.train(progress=False).model_dir
    logged = []
    grown_config = {**tiny_config("tiny-base"), "region_channels": 1}
    again = Trainer(TrainingConfig(output_dir=str(tmp_path / "two"), steps=2, model=grown_config, init_from=str(shipped), **common), log=logged.append)
    assert any("zero-initialised region-map" in line for line in logged)
    result = again.train(progress=False)
    assert GlyphUNet2DModel.from_pretrained(result.model_dir).config.region_channels == 1
    assert np.isfinite(result.final_loss)


def test_the_pipeline_gives_both_guidance_branches_the_region_map(tiny_base, monkeypatch):
    from generation.pipeline import GlyphCascadePipeline
    from generation.schedulers import training_scheduler

    model = wake(GlyphUNet2DModel(**{**tiny_config("tiny-base"), "region_channels": 1}), 5)
    pipe = GlyphCascadePipeline(model, training_scheduler())
    pipe.set_progress_bar_config(disable=True)
    seen = []
    forward = model.forward

    def spy(*args, **kwargs):
        seen.append(kwargs.get("region"))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", spy)
    layout = lay_out("glyph bot\n@glyphbot\na tweet with a card and an avatar", random.Random(0), "tweet")
    pipe.generate_base(["glyph bot\n@glyphbot\na tweet with a card and an avatar"], seeds=[0], num_inference_steps=2, guidance_scale=2.0, layouts=[layout])
    region = seen[0]
    assert region.shape == (2, 1, 16, 16) and torch.equal(region[0], region[1]) and region.sum() > 0
