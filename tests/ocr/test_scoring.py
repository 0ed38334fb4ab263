"""Transcript similarity and the benchmark's text measures, on hand-built cases."""

import pytest

from ocr.scoring import (
    character_error_rate,
    exact_match,
    exact_match_ignoring_case,
    normalize_whitespace,
    normalized_edit_distance,
    score_text,
    strip_line_spaces,
    trigram_similarity,
)


def test_trigram_matches_the_ngram_package_definition() -> None:
    # NGram.compare("spa", "spam") == 0.375 in the `ngram` package the original used: 3 shared of 5 + 6 grams.
    assert trigram_similarity("spa", "spam") == pytest.approx(0.375)
    assert trigram_similarity("spam", "spa") == pytest.approx(0.375)


def test_trigram_identity_and_disjoint() -> None:
    assert trigram_similarity("HELLO\nWORLD", "HELLO\nWORLD") == 1.0
    assert trigram_similarity("abc", "xyz") == 0.0


def test_trigram_is_case_sensitive() -> None:
    assert trigram_similarity("Hello", "hello") < 1.0
    assert trigram_similarity("STOP", "stop") == 0.0


def test_trigram_strips_spaces_at_line_breaks_only() -> None:
    assert trigram_similarity("NO PARKING\nEVER", "  NO PARKING  \n EVER ") == 1.0
    assert trigram_similarity("NO PARKING", "NOPARKING") < 1.0


def test_trigram_empty_reading() -> None:
    assert trigram_similarity("STOP", "") == 0.0
    assert trigram_similarity("", "") == 1.0


def test_trigram_unicode_and_dollar_edges() -> None:
    assert trigram_similarity("Café ☕", "Café ☕") == 1.0
    assert 0 < trigram_similarity("Café", "Cafe") < 1
    # the padding marker is not '$', so a leading '$' does not match padding on an unrelated reading
    assert trigram_similarity("$$", "") == 0.0


def test_trigram_rejects_bad_n() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        trigram_similarity("a", "a", n=0)


def test_better_reading_scores_higher() -> None:
    reference = "CLOSED FOR LUNCH"
    assert trigram_similarity(reference, "CLOSED FOR LUNCH") > trigram_similarity(reference, "CL0SED FOR LUNCH")
    assert trigram_similarity(reference, "CL0SED FOR LUNCH") > trigram_similarity(reference, "CLSD FR LNCH")


def test_whitespace_normalisation() -> None:
    assert strip_line_spaces("  a b \n c ") == "a b\nc"
    assert normalize_whitespace(" a   b\t\n\n  c \r\n") == "a b\nc"


def test_cer_and_normalised_distance() -> None:
    assert character_error_rate("HELLO", "HELLO") == 0.0
    assert character_error_rate("HELLO", "HELL0") == pytest.approx(0.2)
    assert character_error_rate("AB", "ABCDEF") == pytest.approx(2.0)  # insertions can push CER past 1
    assert normalized_edit_distance("AB", "ABCDEF") == pytest.approx(4 / 6)
    assert character_error_rate("", "") == 0.0
    assert character_error_rate("", "x") == 1.0
    assert character_error_rate("STOP", "") == 1.0


def test_exact_matches() -> None:
    assert exact_match("Open 9am\nNow", " Open  9am \n\nNow ")
    assert not exact_match("Open", "open")
    assert exact_match_ignoring_case("Open", "OPEN")
    assert not exact_match("a\nb", "a b")  # line breaks are part of the transcript


def test_score_text_bundles_everything() -> None:
    score = score_text("Hello", "hello")
    assert (score.exact, score.exact_ignoring_case, score.cer) == (False, True, pytest.approx(0.2))
    assert 0 < score.trigram < 1 and score.normalized_distance == pytest.approx(0.2)
