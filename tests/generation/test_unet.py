import pytest
import torch

from generation.tokenizer import GlyphTokenizer
from generation.unet import GlyphUNet2DModel
from generation.weave import WeaveCrossAttention

from .tiny_models import tiny_config


@pytest.fixture(scope="module")
def tokens():
    return GlyphTokenizer(max_tokens=64)(["hello\nworld", "hi"])


def run(model, tokens, sample, line_ids=None, **extra):
    with torch.no_grad():
        return model(
            sample, torch.tensor([10, 700]), tokens.input_ids, tokens.attention_mask,
            tokens.line_ids if line_ids is None else line_ids, **extra,
        ).sample


def test_base_output_has_the_input_shape(tiny_base, tokens):
    sample = torch.randn(2, 3, 16, 16)
    assert run(tiny_base, tokens, sample).shape == sample.shape


def test_sr_takes_a_low_res_image_and_noise_level(tiny_sr, tokens):
    out = run(tiny_sr, tokens, torch.randn(2, 3, 32, 32), low_res=torch.randn(2, 3, 16, 16), noise_level=torch.tensor([0, 100]))
    assert out.shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="needs `low_res`"):
        run(tiny_sr, tokens, torch.randn(2, 3, 32, 32))


def test_base_refuses_a_low_res_image(tiny_base, tokens):
    with pytest.raises(ValueError, match="no `low_res`"):
        run(tiny_base, tokens, torch.randn(2, 3, 16, 16), low_res=torch.randn(2, 3, 8, 8))


def test_the_text_changes_the_prediction(tiny_base):
    tokenizer = GlyphTokenizer(max_tokens=64)
    sample = torch.randn(2, 3, 16, 16)
    a = run(tiny_base, tokenizer(["hello", "hello"]), sample)
    b = run(tiny_base, tokenizer(["hello", "jello"]), sample)
    assert torch.allclose(a[0], b[0], atol=1e-6)
    assert not torch.allclose(a[1], b[1], atol=1e-4)


def test_line_embedding_changes_the_prediction(tiny_base, tokens):
    sample = torch.randn(2, 3, 16, 16)
    assert not torch.allclose(run(tiny_base, tokens, sample), run(tiny_base, tokens, sample, torch.zeros_like(tokens.line_ids)), atol=1e-4)


def test_position_embedding_changes_the_prediction(tiny_base, tokens):
    sample = torch.randn(2, 3, 16, 16)
    before = run(tiny_base, tokens, sample)
    with torch.no_grad():
        tiny_base.text_encoder.position_embedding.weight.add_(torch.randn_like(tiny_base.text_encoder.position_embedding.weight))
    assert not torch.allclose(before, run(tiny_base, tokens, sample), atol=1e-4)


def test_fresh_model_predicts_zero_and_weave_starts_as_identity():
    model = GlyphUNet2DModel(**tiny_config("tiny-base"))
    tokens = GlyphTokenizer(max_tokens=64)(["a", "b"])
    assert torch.count_nonzero(run(model, tokens, torch.randn(2, 3, 16, 16))) == 0
    weave = next(module for module in model.modules() if isinstance(module, WeaveCrossAttention))
    channels, size = weave.image_norm.norm.num_channels, weave.position.rows.shape[1]
    image, text = torch.randn(2, channels, size, size), torch.randn(2, 5, weave.text_norm_read.normalized_shape[0])
    time_embedding = torch.randn(2, weave.image_norm.modulation[1].in_features)
    out_image, out_text = weave(image, text, torch.ones(2, 5, dtype=torch.long), time_embedding)
    assert torch.equal(out_image, image) and torch.equal(out_text, text)


def test_save_and_load_round_trip_bit_exactly(tiny_base, tmp_path):
    tiny_base.save_pretrained(tmp_path, max_shard_size="15MB")
    loaded = GlyphUNet2DModel.from_pretrained(tmp_path)
    public = lambda config: {key: list(v) if isinstance(v, (list, tuple)) else v for key, v in config.items() if not key.startswith("_")}
    assert public(loaded.config) == public(tiny_base.config)
    for (name, a), (_, b) in zip(tiny_base.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_large_models_are_sharded_under_15_mb(tmp_path):
    model = GlyphUNet2DModel(**{**tiny_config("tiny-base"), "block_out_channels": (64, 256), "layers_per_block": 3, "norm_num_groups": 32})
    model.save_pretrained(tmp_path, max_shard_size="15MB")
    shards = list(tmp_path.glob("*.safetensors"))
    assert len(shards) > 1
    assert all(shard.stat().st_size <= 15_000_000 for shard in shards)
    loaded = GlyphUNet2DModel.from_pretrained(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_warm_start_copies_the_base_into_the_sr_middle(tiny_base):
    sr = GlyphUNet2DModel(**tiny_config("tiny-sr"))
    report = sr.warm_start_from_base(tiny_base)
    base_state, sr_state = tiny_base.state_dict(), sr.state_dict()
    # base level 0 sits one level deeper in the SR model; decoder levels align from the bottom
    assert torch.equal(sr_state["down_levels.1.resnets.0.conv1.weight"], base_state["down_levels.0.resnets.0.conv1.weight"])
    assert torch.equal(sr_state["up_levels.0.weaves.0.gain_text_to_image"], base_state["up_levels.0.weaves.0.gain_text_to_image"])
    assert torch.equal(sr_state["text_encoder.line_embedding.weight"], base_state["text_encoder.line_embedding.weight"])
    # the bread stays fresh
    assert "conv_in.weight" not in report.copied and "conv_out.weight" not in report.copied


def test_warm_start_matches_a_patch_stem_sr_level_for_level(tiny_base):
    """A 64 px SR model folded by 4 works at 16 px: the tiny base's own levels, nothing extra."""
    sr = GlyphUNet2DModel(**{**tiny_config("tiny-sr"), "sample_size": 64, "patch_size": 4, "block_out_channels": (32, 64)})
    report = sr.warm_start_from_base(tiny_base)
    base_state = tiny_base.state_dict()
    assert len(report.copied) == len([name for name in base_state if not name.startswith(("conv_in.", "conv_out.", "norm_out."))])
    assert torch.equal(sr.state_dict()["time_embedding.linear_1.weight"], base_state["time_embedding.linear_1.weight"])


def test_warm_start_fails_loudly_when_the_widths_differ(tiny_base):
    """The review's case: an SR model whose first width differs has another timestep width, so every
    time_emb_proj, the text encoder's time projection and the weave modulations cannot be copied."""
    config = {**tiny_config("tiny-sr"), "block_out_channels": (16, 32, 64), "norm_num_groups": 8}
    torch.manual_seed(5)
    sr = GlyphUNet2DModel(**config)
    with pytest.raises(ValueError, match="differ in shape") as error:
        sr.warm_start_from_base(tiny_base)
    assert "time_embedding" in str(error.value)
    torch.manual_seed(5)
    fresh = GlyphUNet2DModel(**config)
    # nothing was half-copied before the refusal
    assert all(torch.equal(a, b) for a, b in zip(sr.state_dict().values(), fresh.state_dict().values()))


def test_glyph_map_changes_the_prediction_and_none_means_blank(tiny_base, tokens):
    sample = torch.randn(2, 3, 16, 16)
    glyph = torch.zeros(2, 1, 16, 16)
    glyph[:, :, 4:12, 4:12] = 1
    blank = run(tiny_base, tokens, sample)
    assert torch.equal(blank, run(tiny_base, tokens, sample, glyph=torch.zeros(2, 1, 16, 16)))
    assert not torch.allclose(blank, run(tiny_base, tokens, sample, glyph=glyph), atol=1e-4)
    with pytest.raises(ValueError, match="glyph map has shape"):
        run(tiny_base, tokens, sample, glyph=torch.zeros(2, 1, 8, 8))


def test_a_model_without_glyph_channels_refuses_a_map(tokens):
    model = GlyphUNet2DModel(**{**tiny_config("tiny-base"), "glyph_channels": 0})
    with pytest.raises(ValueError, match="without glyph channels"):
        run(model, tokens, torch.randn(2, 3, 16, 16), glyph=torch.zeros(2, 1, 16, 16))


def test_patch_stem_keeps_the_sample_shape(tokens):
    model = GlyphUNet2DModel(**{**tiny_config("tiny-sr"), "sample_size": 64, "patch_size": 4, "block_out_channels": (32, 64)})
    out = run(model, tokens, torch.randn(2, 3, 64, 64), low_res=torch.randn(2, 3, 16, 16), noise_level=0, glyph=torch.rand(2, 1, 64, 64))
    assert out.shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="patch_size"):
        GlyphUNet2DModel(**{**tiny_config("tiny-base"), "patch_size": 3})


def test_warm_start_refuses_incompatible_shapes(tiny_base):
    sr = GlyphUNet2DModel(**{**tiny_config("tiny-sr"), "sample_size": 48, "block_out_channels": (32, 32, 32, 64)})
    with pytest.raises(ValueError, match="one outer level per doubling"):
        sr.warm_start_from_base(tiny_base)


def test_config_errors_are_specific():
    with pytest.raises(ValueError, match="halved"):
        GlyphUNet2DModel(**{**tiny_config("tiny-base"), "sample_size": 17})
    with pytest.raises(ValueError, match="norm_num_groups"):
        GlyphUNet2DModel(**{**tiny_config("tiny-base"), "block_out_channels": (30, 64)})
