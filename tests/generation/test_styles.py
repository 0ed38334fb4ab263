"""Learned styles: style slots in the tokenizer, style vectors in the text encoder and the
U-Net, the style file format, the checks on examples, and textual inversion on a tiny frozen model."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image
from safetensors.torch import save as save_tensors
from transformers import ByT5Tokenizer

from generation.colour import Palette
from generation.templates import candidate_layouts
from generation.schedulers import training_scheduler
from generation.styles import (
    FILE_FORMAT,
    MAX_EXAMPLES,
    MIN_EXAMPLES,
    UnusableStyleError,
    StyleExample,
    StyleTokens,
    check_examples,
    learn_style,
    model_hash,
)
from generation.tokenizer import STYLE_SLOT_IDS, STYLE_SLOTS, GlyphTokenizer, PromptError


# ------------------------------------------------------------------ tokenizer


def test_style_slot_ids_are_byt5s_sentinels_after_the_mask():
    byt5 = ByT5Tokenizer()
    assert STYLE_SLOT_IDS == tuple(byt5.convert_tokens_to_ids(f"<extra_id_{i}>") for i in range(1, STYLE_SLOTS + 1))
    tokenizer = GlyphTokenizer()
    assert tokenizer.style_slot_ids == STYLE_SLOT_IDS
    assert tokenizer.mask_token_id not in STYLE_SLOT_IDS


def test_style_slots_go_after_the_text_and_before_the_end_token():
    tokenizer = GlyphTokenizer()
    plain = tokenizer(["AB\nC"]).input_ids[0].tolist()
    styled = tokenizer(["AB\nC"], style_slots=3)
    ids = styled.input_ids[0].tolist()
    assert ids == plain[:-1] + list(STYLE_SLOT_IDS[:3]) + [tokenizer.eos_token_id]
    assert styled.attention_mask[0].tolist() == [1] * len(ids)
    # The characters keep their positions and line indices.
    assert styled.line_ids[0, : len(plain) - 1].tolist() == tokenizer(["AB\nC"]).line_ids[0, :-1].tolist()


def test_the_mask_prompt_never_carries_style_slots():
    tokenizer = GlyphTokenizer()
    batch = tokenizer(["HI", None], style_slots=STYLE_SLOTS)
    assert batch.input_ids[1, :2].tolist() == tokenizer.mask_ids()
    assert batch.attention_mask[1].sum() == 2
    assert not any(int(token) in STYLE_SLOT_IDS for token in batch.input_ids[1])
    assert sum(int(token) in STYLE_SLOT_IDS for token in batch.input_ids[0]) == STYLE_SLOTS


def test_a_prompt_too_long_for_the_style_names_the_count():
    tokenizer = GlyphTokenizer(max_tokens=8)
    assert tokenizer(["ABCDEF"]).input_ids.shape[1] == 7  # fits without a style
    with pytest.raises(PromptError, match=r"style's 2 tokens it needs 9 of the 8 tokens.*by 1 bytes"):
        tokenizer(["ABCDEF"], style_slots=2)


@pytest.mark.parametrize("slots", [-1, STYLE_SLOTS + 1])
def test_slot_counts_outside_the_range_are_refused(slots):
    with pytest.raises(ValueError, match="0 to 8 slots"):
        GlyphTokenizer()(["AB"], style_slots=slots)


# ------------------------------------------------------------------ text encoder and U-Net


def _time(width: int = 128) -> torch.Tensor:
    return torch.randn(2, width, generator=torch.Generator().manual_seed(0))


def test_style_vectors_replace_only_the_slot_positions(tiny_base):
    encoder = tiny_base.text_encoder
    tokenizer = GlyphTokenizer(max_tokens=64)
    styled, plain = tokenizer(["AB", "xyz"], style_slots=2), tokenizer(["AB", "xyz"])
    temb = _time(encoder.time_projection[1].in_features)
    vectors = torch.randn(1, 2, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        bare = encoder(styled.input_ids, styled.attention_mask, styled.line_ids, temb)
        with_style = encoder(styled.input_ids, styled.attention_mask, styled.line_ids, temb, vectors, STYLE_SLOT_IDS)
        # The slots' own embedding rows as the "style": exactly the unstyled encoding.
        own_rows = encoder.transformer.embed_tokens.weight[list(STYLE_SLOT_IDS[:2])][None]
        same = encoder(styled.input_ids, styled.attention_mask, styled.line_ids, temb, own_rows, STYLE_SLOT_IDS)
        no_slots = encoder(plain.input_ids, plain.attention_mask, plain.line_ids, temb)
        no_slots_styled = encoder(plain.input_ids, plain.attention_mask, plain.line_ids, temb, vectors, STYLE_SLOT_IDS)
    assert not torch.allclose(bare, with_style, atol=1e-4)
    torch.testing.assert_close(same, bare, atol=1e-6, rtol=0)
    torch.testing.assert_close(no_slots_styled, no_slots, atol=0, rtol=0)


def test_the_unet_reads_style_vectors_only_where_the_ids_have_slots(tiny_base):
    tokenizer = GlyphTokenizer(max_tokens=64)
    styled, plain = tokenizer(["AB"], style_slots=2), tokenizer(["AB"])
    generator = torch.Generator().manual_seed(3)
    sample = torch.randn(1, 3, 16, 16, generator=generator)
    glyph = torch.rand(1, 1, 16, 16, generator=generator)
    vectors = torch.randn(1, 2, 32, generator=generator)

    def run(batch, style=None):
        with torch.no_grad():
            return tiny_base(sample, 500, batch.input_ids, batch.attention_mask, batch.line_ids, glyph=glyph, style_embeds=style).sample

    assert not torch.allclose(run(styled), run(styled, vectors), atol=1e-5)
    torch.testing.assert_close(run(plain, vectors), run(plain), atol=0, rtol=0)


# ------------------------------------------------------------------ style files


def _palette() -> Palette:
    return Palette(torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0.1, 0.05, 0.02]), torch.tensor([-0.5, 0.0, 0.5]), torch.tensor([0.2, 0.2, 0.3]))


def _style(width: int = 32, slots: int = 3) -> StyleTokens:
    vectors = torch.randn(slots, width, generator=torch.Generator().manual_seed(7))
    return StyleTokens("neon", vectors, _palette(), "abc123", 42, 0.125)


def test_style_tokens_round_trip_through_bytes():
    style = _style()
    back = StyleTokens.from_bytes(style.to_bytes())
    assert (back.name, back.model_hash, back.steps, back.loss, back.slots) == ("neon", "abc123", 42, 0.125, 3)
    torch.testing.assert_close(back.vectors, style.vectors, atol=0, rtol=0)
    for field in ("text_mean", "text_std", "background_mean", "background_std"):
        torch.testing.assert_close(getattr(back.palette, field), getattr(style.palette, field), atol=0, rtol=0)


@pytest.mark.parametrize("data", [b"", b"not a style at all", b"\xff" * 64], ids=["empty", "text", "garbage"])
def test_corrupt_style_bytes_are_a_style_error(data):
    with pytest.raises(UnusableStyleError, match="not a glyphbot style"):
        StyleTokens.from_bytes(data)


def test_a_truncated_style_file_is_a_style_error():
    data = _style().to_bytes()
    with pytest.raises(UnusableStyleError):
        StyleTokens.from_bytes(data[: len(data) // 2])


def test_foreign_safetensors_are_a_style_error():
    foreign = save_tensors({"weight": torch.zeros(4, 4)}, metadata={"format": "pt"})
    with pytest.raises(UnusableStyleError, match=FILE_FORMAT):
        StyleTokens.from_bytes(foreign)
    no_palette = save_tensors({"base": torch.zeros(2, 32)}, metadata={"format": "glyphbot-style-1"})  # before LoRA styles
    with pytest.raises(UnusableStyleError, match="palette"):
        StyleTokens.from_bytes(no_palette)
    too_many = _style(slots=STYLE_SLOTS + 1).to_bytes()
    with pytest.raises(UnusableStyleError, match="1 to 8 base vectors"):
        StyleTokens.from_bytes(too_many)


def test_check_fits_refuses_vectors_of_another_width(tiny_base):
    _style(width=32).check_fits(tiny_base)
    with pytest.raises(UnusableStyleError, match=r"16-wide vectors.*32 wide"):
        _style(width=16).check_fits(tiny_base)


# ------------------------------------------------------------------ examples and learning


def _example(text: str, index: int, size: tuple[int, int] = (48, 40), colours=((250, 250, 250), (200, 20, 20))) -> StyleExample:
    layout = candidate_layouts([text], [index])[0]
    square = layout.render(max(size), colours[0], colours[1])
    return StyleExample(square.resize(size), text, f"example-{index}.png")


def test_check_examples_refuses_too_few_and_too_many():
    with pytest.raises(UnusableStyleError, match=rf"{MIN_EXAMPLES} to {MAX_EXAMPLES} example pictures; got 2"):
        check_examples([_example("AB", i) for i in range(2)])
    plenty = [StyleExample(Image.new("RGB", (40, 40)), "AB", f"e{i}") for i in range(MAX_EXAMPLES + 1)]
    with pytest.raises(UnusableStyleError, match="got 21"):
        check_examples(plenty)
    check_examples(plenty[:MAX_EXAMPLES])
    check_examples(plenty[:MIN_EXAMPLES])


def test_check_examples_refuses_a_tiny_picture_naming_it():
    examples = [_example("AB", 0), StyleExample(Image.new("RGB", (20, 20)), "AB", "small.png"), _example("CD", 2)]
    with pytest.raises(UnusableStyleError, match=r"example small\.png is 20x20 px.*at least 32 px"):
        check_examples(examples)


def test_check_examples_refuses_an_example_without_text():
    examples = [_example("AB", 0), _example("CD", 1), StyleExample(Image.new("RGB", (40, 40)), "  \n ", "blank.png")]
    with pytest.raises(UnusableStyleError, match=r"example blank\.png has no transcript.*\.txt file"):
        check_examples(examples)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample"])
def test_learn_style_learns_vectors_and_leaves_every_weight_alone(tiny_base, prediction_type):
    examples = [_example(text, i) for i, text in enumerate(["AB", "CAT", "dog"])]
    before = {name: tensor.clone() for name, tensor in tiny_base.state_dict().items()}
    hash_before = model_hash(tiny_base)
    seen = []
    style = learn_style(
        "red", tiny_base, training_scheduler(prediction_type), GlyphTokenizer(max_tokens=64), examples,
        steps=5, slots=2, batch_size=3, progress=lambda step, loss: seen.append((step, loss)),
    )
    assert style.vectors.shape == (2, 32)
    assert not style.vectors.requires_grad
    assert torch.isfinite(style.vectors).all()
    assert [step for step, _ in seen] == [1, 2, 3, 4, 5]
    assert math.isfinite(style.loss) and style.loss == seen[-1][1]
    assert (style.name, style.steps, style.model_hash) == ("red", 5, hash_before)
    after = tiny_base.state_dict()
    assert after.keys() == before.keys()
    for name, tensor in before.items():
        assert torch.equal(after[name], tensor), f"{name} changed while learning a style"
    assert all(parameter.grad is None for parameter in tiny_base.parameters())
    # The vectors moved away from their start (the mean byte embedding) and fit the model.
    start = tiny_base.text_encoder.transformer.embed_tokens.weight[3:259].mean(dim=0)
    assert (style.vectors - start).abs().max() > 0.05
    style.check_fits(tiny_base)
    # Red background, light letters: the palette says so.
    assert style.palette.background_mean[0] > 0.3 > style.palette.background_mean[1]
    assert (style.palette.text_mean > style.palette.background_mean[1]).all()
    # And the learned style reads back from its file.
    assert StyleTokens.from_bytes(style.to_bytes()).slots == 2


def test_learn_style_refuses_bad_slot_and_step_counts(tiny_base):
    examples = [_example(text, i) for i, text in enumerate(["AB", "CAT", "dog"])]
    with pytest.raises(UnusableStyleError, match="1 to 8 vectors"):
        learn_style("x", tiny_base, training_scheduler(), GlyphTokenizer(max_tokens=64), examples, steps=1, slots=0)
    with pytest.raises(UnusableStyleError, match="steps must be at least 1"):
        learn_style("x", tiny_base, training_scheduler(), GlyphTokenizer(max_tokens=64), examples, steps=0)
