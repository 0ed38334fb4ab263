"""How well a reading of an image matches the text it was meant to contain.

`trigram_similarity` is the score the rejection-sampling policy ranks candidates by. It reproduces the
original autoresponder's measure (the `ngram` package's `NGram.compare` with N=3 after stripping spaces
at the ends of each line): pad both strings with N-1 marker characters on each side, take the multisets
of character N-grams A and B, and return |A ∩ B| / (|A| + |B| - |A ∩ B|). It is case-sensitive, so a
candidate that got the capitals wrong ranks below one that got them right. Padding makes the first and
last characters count as much as the middle ones. One deliberate difference: the marker is U+0000, not
the package's `$`, so a prompt that starts or ends with `$` does not match the padding.

The benchmark adds measures that are easier to read for people: CER (edit distance over reference
length, via rapidfuzz), normalised edit distance (over the longer string, in [0, 1]) and exact match
with and without case, after whitespace normalisation; and the same with line breaks *folded* into
spaces (`fold_whitespace`), because a long transcript is word-wrapped where the picture's width
demands: a wrapped line is no error. Reranking compares folded texts for the same reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

NGRAM = 3
_PAD = "\x00"
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")


def strip_line_spaces(text: str) -> str:
    """Remove spaces at the start and end of every line (the original's normalisation before scoring)."""
    return "\n".join(line.strip(" ") for line in text.split("\n"))


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces, trim every line and drop blank lines; line breaks themselves still count.

    Line breaks are kept because a transcript's lines are part of what the model is asked to draw.
    """
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def fold_whitespace(text: str) -> str:
    """Every run of whitespace, line breaks included, as one space; trimmed at both ends."""
    return " ".join(text.split())


def _ngrams(text: str, n: int) -> Counter[str]:
    padded = _PAD * (n - 1) + text + _PAD * (n - 1)
    return Counter(padded[i : i + n] for i in range(len(padded) - n + 1))


def trigram_similarity(reference: str, reading: str, n: int = NGRAM) -> float:
    """The original's padded character-N-gram similarity in [0, 1]; 1.0 only for identical strings.

    Both strings first have the spaces at their line ends stripped.
    """
    if n < 1:
        raise ValueError(f"n-gram size must be at least 1, got {n}")
    a = _ngrams(strip_line_spaces(reference), n)
    b = _ngrams(strip_line_spaces(reading), n)
    shared = sum((a & b).values())
    return shared / (a.total() + b.total() - shared)


def character_error_rate(reference: str, reading: str) -> float:
    """Levenshtein distance / reference length, after whitespace normalisation; may exceed 1.

    With an empty reference the rate is 0.0 for an empty reading and 1.0 for anything else.
    """
    ref, hyp = normalize_whitespace(reference), normalize_whitespace(reading)
    if not ref:
        return 0.0 if not hyp else 1.0
    return Levenshtein.distance(ref, hyp) / len(ref)


def normalized_edit_distance(reference: str, reading: str) -> float:
    """Levenshtein distance / length of the longer string, in [0, 1], after whitespace normalisation."""
    return Levenshtein.normalized_distance(normalize_whitespace(reference), normalize_whitespace(reading))


def exact_match(reference: str, reading: str) -> bool:
    return normalize_whitespace(reference) == normalize_whitespace(reading)


def exact_match_ignoring_case(reference: str, reading: str) -> bool:
    return normalize_whitespace(reference).casefold() == normalize_whitespace(reading).casefold()


@dataclass(frozen=True)
class TextScore:
    """Every measure of one reading against its reference, as the benchmark tabulates them."""

    trigram: float
    cer: float
    normalized_distance: float
    exact: bool
    exact_ignoring_case: bool
    exact_folded: bool  # line breaks folded into spaces: a word-wrapped reading still matches
    cer_folded: float


def score_text(reference: str, reading: str) -> TextScore:
    folded_reference, folded_reading = fold_whitespace(reference), fold_whitespace(reading)
    return TextScore(
        trigram=trigram_similarity(reference, reading),
        cer=character_error_rate(reference, reading),
        normalized_distance=normalized_edit_distance(reference, reading),
        exact=exact_match(reference, reading),
        exact_ignoring_case=exact_match_ignoring_case(reference, reading),
        exact_folded=folded_reference == folded_reading,
        cer_folded=character_error_rate(folded_reference, folded_reading),
    )
