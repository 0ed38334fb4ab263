"""The held-out transcript file and the prompt-file format."""

import random

import pytest

from generation.data.text_sampler import TextSampler, TextSamplerConfig
from ocr.heldout import MAX_CHARS, PromptFileError, is_heldout, load_heldout, load_transcript_file, parse_transcript_file


def test_heldout_file_meets_its_rules() -> None:
    transcripts = load_heldout()
    assert len(transcripts) >= 60
    assert len(set(transcripts)) == len(transcripts)
    for transcript in transcripts:
        assert 1 <= transcript.count("\n") + 1 <= 3 and len(transcript) <= MAX_CHARS
        assert "\\n" not in transcript and transcript == transcript.strip()
    assert any("\n" in t for t in transcripts) and any(c.isdigit() for t in transcripts for c in t)


def test_is_heldout_is_exact() -> None:
    first = load_heldout()[0]
    assert is_heldout(first)
    assert not is_heldout(first.lower()) and not is_heldout(first + "!")


def test_prompt_file_format() -> None:
    text = "# comment\nONE\n\nTWO\\nLINES\n"
    assert parse_transcript_file(text) == ["ONE", "TWO\nLINES"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A\nB\nA\n", r"<prompts>:3: duplicate of line 1"),
        ("A\\n\\nB\n", r"<prompts>:1: a transcript line is empty"),
        ("x" * 41 + "\n", r"41 characters, over 40"),
    ],
)
def test_prompt_file_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(PromptFileError, match=message):
        parse_transcript_file(text, max_chars=40)


def test_a_prompt_file_that_is_not_utf8_is_named(tmp_path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(PromptFileError, match=r"latin1.txt: not UTF-8 text \(byte 3\)"):
        load_transcript_file(path)


def test_the_synthetic_generator_never_draws_a_held_out_transcript(tmp_path) -> None:
    """A word list of held-out words makes the generator draw held-out signs unless they are excluded."""
    words = tmp_path / "words"
    words.write_text("stop\nexit\nonly\n" * 400)
    config = TextSamplerConfig(max_lines=1, word_list=str(words))
    heldout = set(load_heldout())
    free = {TextSampler(config).sample(random.Random(seed)) for seed in range(2000)}
    assert {"STOP", "EXIT ONLY"} <= free & heldout
    guarded = {TextSampler(config, frozenset(heldout)).sample(random.Random(seed)) for seed in range(2000)}
    assert not guarded & heldout and len(guarded) > 100
