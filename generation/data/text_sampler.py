"""Random transcripts for synthetic training images.

A mix the bot will actually be asked to write: real words (from the system word list, Debian's
`wamerican`), names, numbers, punctuation and the odd random string, in lower, Title and UPPER case,
on 1..N lines. Transcripts on the held-out benchmark list are never produced, so the text-accuracy
benchmark measures generalisation rather than recall.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_WORD_LIST = "/usr/share/dict/words"
_PUNCTUATION_AFTER = [".", ",", "!", "?", ":", ";", "...", "'s"]
_BRACKETS = [("(", ")"), ('"', '"'), ("#", ""), ("@", ""), ("$", ""), ("", "%")]


class WordListError(RuntimeError):
    """The word list the sampler draws from is missing or unusable."""


@dataclass(frozen=True)
class Vocabulary:
    words: tuple[str, ...]
    names: tuple[str, ...]


@lru_cache(maxsize=4)
def load_vocabulary(path: str = DEFAULT_WORD_LIST) -> Vocabulary:
    """Plain lowercase words and capitalised names (2-12 ASCII letters) from a word-per-line list."""
    file = Path(path)
    if not file.is_file():
        raise WordListError(
            f"word list {path} not found; install Debian's `wamerican` (setup.sh does) or pass another word list"
        )
    words, names = [], []
    for line in file.read_text(encoding="utf-8", errors="ignore").splitlines():
        if not (2 <= len(line) <= 12) or not line.isascii() or not line.isalpha():
            continue
        if line.islower():
            words.append(line)
        elif line[0].isupper() and line[1:].islower():
            names.append(line)
    if len(words) < 1000:
        raise WordListError(f"word list {path} has only {len(words)} usable words; need at least 1000")
    return Vocabulary(tuple(words), tuple(names))


@dataclass(frozen=True)
class TextSamplerConfig:
    """Shape of the transcripts: the curriculum widens these as accuracy allows.

    `max_line_chars` bounds how small glyphs get: at 64 px, 16 characters a line is about 4 px a
    glyph, the smallest the base model can be asked to spell.
    """

    min_lines: int = 1
    max_lines: int = 3
    max_chars: int = 40
    max_line_chars: int = 16
    word_list: str = DEFAULT_WORD_LIST

    def __post_init__(self) -> None:
        if not 1 <= self.min_lines <= self.max_lines:
            raise ValueError(f"need 1 <= min_lines <= max_lines, got {self.min_lines}..{self.max_lines}")
        if self.max_chars < self.max_lines * 2:
            raise ValueError(f"max_chars {self.max_chars} is too small for {self.max_lines} lines")


class TextSampler:
    """Draws transcripts; `excluded` transcripts (the held-out benchmark) are never returned."""

    def __init__(self, config: TextSamplerConfig, excluded: frozenset[str] = frozenset()) -> None:
        self.config = config
        self.vocabulary = load_vocabulary(config.word_list)
        self.excluded = excluded

    def token(self, rng: random.Random) -> str:
        """One word, name, number or random string, in a random case, sometimes with punctuation."""
        kind = rng.random()
        if kind < 0.68:
            word = rng.choice(self.vocabulary.words)
        elif kind < 0.78 and self.vocabulary.names:
            word = rng.choice(self.vocabulary.names)
        elif kind < 0.9:
            word = str(rng.choice([rng.randint(0, 99), rng.randint(100, 9999), rng.randint(1900, 2030)]))
        else:
            alphabet = rng.choice([string.ascii_letters, string.ascii_uppercase + string.digits, string.ascii_lowercase])
            word = "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 7)))
        case = rng.random()
        if case < 0.15:
            word = word.upper()
        elif case < 0.35:
            word = word[:1].upper() + word[1:]
        if rng.random() < 0.12:
            word += rng.choice(_PUNCTUATION_AFTER)
        elif rng.random() < 0.05:
            left, right = rng.choice(_BRACKETS)
            word = left + word + right
        return word

    def _line(self, rng: random.Random, budget: int) -> str:
        words: list[str] = []
        target = rng.randint(1, 4)
        for _ in range(12):
            if len(words) >= target:
                break
            word = self.token(rng)
            length = len(" ".join(words + [word]))
            if length <= budget:
                words.append(word)
        if not words:
            words.append(self.token(rng)[: max(budget, 1)])
        return " ".join(words)

    def sample(self, rng: random.Random) -> str:
        for _ in range(100):
            lines = rng.randint(self.config.min_lines, self.config.max_lines)
            remaining = self.config.max_chars - (lines - 1)
            parts = []
            for index in range(lines):
                budget = min(self.config.max_line_chars, max(2, remaining // (lines - index)))
                line = self._line(rng, budget)
                parts.append(line)
                remaining -= len(line)
            text = "\n".join(parts)
            if text not in self.excluded and len(text) <= self.config.max_chars:
                return text
        raise RuntimeError("could not draw a transcript outside the excluded set in 100 tries")
