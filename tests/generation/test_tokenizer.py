import pytest
import torch

from generation.request_parsers import PromptError, normalize_prompt
from generation.tokenizer import GlyphTokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return GlyphTokenizer(max_tokens=32)


def test_spaces_around_newlines_are_stripped():
    assert normalize_prompt("  hello  \n   world \r\n x ") == "hello\nworld\nx"


def test_line_ids_count_newlines_before_each_token(tokenizer):
    batch = tokenizer(["ab\ncd\ne"])
    ids = batch.input_ids[0, : int(batch.attention_mask[0].sum())].tolist()
    assert tokenizer.decode(ids) == "ab\ncd\ne"
    # a, b, \n on line 0; c, d, \n on line 1; e and the end token on line 2
    assert batch.line_ids[0, :8].tolist() == [0, 0, 0, 1, 1, 1, 2, 2]


def test_line_ids_are_capped():
    tokenizer = GlyphTokenizer(max_tokens=128, max_lines=4)
    batch = tokenizer(["\n".join("x" * 10)])
    assert int(batch.line_ids.max()) == 3


def test_none_is_the_mask_prompt_and_padding_is_masked(tokenizer):
    batch = tokenizer(["hello", None])
    assert batch.input_ids[1, :2].tolist() == tokenizer.mask_ids()
    assert batch.attention_mask[1].tolist() == [1, 1] + [0] * (batch.input_ids.shape[1] - 2)
    assert batch.input_ids.dtype == torch.long


def test_unicode_is_encoded_losslessly(tokenizer):
    batch = tokenizer(["héllo ✓"])
    ids = batch.input_ids[0, : int(batch.attention_mask[0].sum())].tolist()
    assert tokenizer.decode(ids) == "héllo ✓"


def test_prompt_over_the_limit_is_refused_naming_the_limit(tokenizer):
    with pytest.raises(PromptError, match="limit is 31 bytes"):
        tokenizer(["x" * 40])


def test_limit_is_exact(tokenizer):
    tokenizer(["x" * 31])
    with pytest.raises(PromptError):
        tokenizer(["x" * 32])


@pytest.mark.parametrize("bad", ["bell\x07", "nul\x00", "esc\x1b[0m", "tab\tinside"])
def test_control_characters_are_refused(tokenizer, bad):
    with pytest.raises(PromptError, match="unsupported control"):
        tokenizer([bad])


def test_empty_batch_and_bare_string_are_refused(tokenizer):
    with pytest.raises(PromptError, match="empty"):
        tokenizer([])
    with pytest.raises(PromptError, match="list"):
        tokenizer("hello")
