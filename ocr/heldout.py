"""The held-out transcripts that the text-accuracy benchmark is judged on.

Two files: `ocr/data/heldout_transcripts.txt`, short signs (at most 40 characters on 3 lines), and
`ocr/data/heldout_long_transcripts.txt`, the autoresponder's kinds of picture (tweets, chats, memes,
covers, notices, pages, posters; up to 380 characters). They live here so that the synthetic data
generator (generation/) can refuse to draw them (`load_heldout_all`): a model that saw these strings in
training would score too well on them.
File format: one transcript per line; the two characters `\\n` stand for a line break inside a
transcript; lines starting with `#` and blank lines are skipped.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from generation.request_parsers import unescape_newlines

HELDOUT_PATH = Path(__file__).parent / "data" / "heldout_transcripts.txt"
HELDOUT_LONG_PATH = Path(__file__).parent / "data" / "heldout_long_transcripts.txt"
MAX_CHARS = 40
MAX_LINES = 3
# The most a transcript can have (generation.layout.MAX_TRANSCRIPT_CHARS; the original system's cut),
# repeated here so the OCR side needs no model imports.
MAX_LONG_CHARS = 380


class PromptFileError(ValueError):
    """A transcript file line that breaks the format; the message names file and line."""


def parse_transcript_file(text: str, name: str = "<prompts>", *, max_chars: int | None = None) -> list[str]:
    """Transcripts from a prompt file's text (format above); duplicates and empty entries are errors.

    `max_chars` (counting line breaks) is enforced for the held-out file, whose entries must stay short
    enough for the small model; benchmark prompt files of users need not follow it.
    """
    transcripts: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        transcript = unescape_newlines(raw)
        if not all(line.strip() for line in transcript.split("\n")):
            raise PromptFileError(f"{name}:{number}: a transcript line is empty: {raw!r}")
        if max_chars is not None and len(transcript) > max_chars:
            raise PromptFileError(f"{name}:{number}: {len(transcript)} characters, over {max_chars}: {raw!r}")
        if transcript in seen:
            raise PromptFileError(f"{name}:{number}: duplicate of line {seen[transcript]}: {raw!r}")
        seen[transcript] = number
        transcripts.append(transcript)
    return transcripts


def load_transcript_file(path: Path | str) -> list[str]:
    """A user's prompt file for the benchmark (same format as the held-out file, no length limit)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PromptFileError(f"{path}: not UTF-8 text (byte {error.start}): {error.reason}") from None
    return parse_transcript_file(text, str(path))


@lru_cache(maxsize=1)
def _heldout() -> tuple[str, ...]:
    transcripts = parse_transcript_file(HELDOUT_PATH.read_text(encoding="utf-8"), str(HELDOUT_PATH), max_chars=MAX_CHARS)
    too_long = [t for t in transcripts if t.count("\n") + 1 > MAX_LINES]
    if too_long:
        raise PromptFileError(f"{HELDOUT_PATH}: transcripts with more than {MAX_LINES} lines: {too_long}")
    return tuple(transcripts)


@lru_cache(maxsize=1)
def _heldout_long() -> tuple[str, ...]:
    return tuple(parse_transcript_file(HELDOUT_LONG_PATH.read_text(encoding="utf-8"), str(HELDOUT_LONG_PATH), max_chars=MAX_LONG_CHARS))


def load_heldout() -> list[str]:
    """The short held-out transcripts, line breaks as real newlines."""
    return list(_heldout())


def load_heldout_long() -> list[str]:
    """The long held-out transcripts (the autoresponder's kinds of picture), line breaks as newlines."""
    return list(_heldout_long())


def load_heldout_all() -> list[str]:
    """Both held-out files: what the synthetic data generator must never draw."""
    return [*_heldout(), *_heldout_long()]


def is_heldout(transcript: str) -> bool:
    """True when `transcript` is exactly one of the held-out transcripts of either file (what the generator must skip)."""
    return transcript in _heldout() or transcript in _heldout_long()
