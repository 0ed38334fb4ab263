"""Which templates suit a transcript, read from its shape (when the user pins none).

The rules, in order; the first that matches gives the choices, and each candidate's seed picks one
of them, so OCR rejection sampling chooses among templates too:

1. a line starting with "@handle" among the first three lines: **tweet**;
2. most lines of the form "Name: message", with a speaker other than "me" / "also me": **chat**;
3. a first line like "Nobody:", "me:", "pov:", "when ...:", or any line starting "me:" / "also me:",
   or exactly two lines of capitals with at least 8 characters each: **meme**;
4. a line after the first starting "by ..." (or "written by", "edited by"), five lines at most: **cover**;
5. a first line that is a notice word in capitals (NOTICE, ATTENTION, WARNING, IMPORTANT, PLEASE NOTE,
   ANNOUNCEMENT, REMINDER, CLOSED, CAUTION) followed by more lines: **notice**;
6. a list (lines starting "-", "*", "•" or "1.") or more than six lines: **page**;
7. up to 40 characters on up to 3 lines: **card** or **sign**;
8. up to 140 characters: **poster**, **sign** or **card**;
9. anything longer: **page** or **poster**.
"""

from __future__ import annotations

import re

from generation.templates.screens import HANDLE_LINE, SPEAKER
from generation.templates.printed import AUTHOR_LINE

MEME_OPENER = re.compile(r"^(nobody|me|also me|pov|my \w+|when .+|them|everyone|literally no one)\s*:", re.IGNORECASE)
MEME_LINE = re.compile(r"^(me|also me)\s*:", re.IGNORECASE)
MEME_SPEAKERS = {"me", "also me", "nobody", "pov", "them", "everyone", "literally no one"}
NOTICE_WORDS = ("NOTICE", "ATTENTION", "WARNING", "IMPORTANT", "PLEASE NOTE", "ANNOUNCEMENT", "REMINDER", "CLOSED", "CAUTION")
LIST_LINE = re.compile(r"^(\s*[-*•]\s|\s*\d{1,2}[.)]\s)")


def _all_capitals(line: str) -> bool:
    return line.upper() == line and any(char.isalpha() for char in line)


def template_choices(text: str) -> tuple[str, ...]:
    """The templates that suit `text` (a normalised transcript), by the rules above."""
    lines = text.split("\n")
    if any(HANDLE_LINE.match(line) for line in lines[:3]):
        return ("tweet",)
    speakers = [match.group(1).strip().lower() for match in map(SPEAKER.match, lines) if match]
    if len(lines) >= 2 and len(speakers) * 2 > len(lines) and set(speakers) - MEME_SPEAKERS:
        return ("chat",)
    if MEME_OPENER.match(lines[0]) or any(MEME_LINE.match(line) for line in lines) or (
        len(lines) == 2 and all(_all_capitals(line) and len(line) >= 8 for line in lines)
    ):
        return ("meme",)
    if len(lines) <= 5 and any(AUTHOR_LINE.match(line) for line in lines[1:]):
        return ("cover",)
    if len(lines) >= 2 and lines[0].strip(" !:.") in NOTICE_WORDS:
        return ("notice",)
    if sum(bool(LIST_LINE.match(line)) for line in lines) >= 2 or len(lines) > 6:
        return ("page",)
    if len(text) <= 40 and len(lines) <= 3:
        return ("card", "sign")
    if len(text) <= 140:
        return ("poster", "sign", "card")
    return ("page", "poster")
