"""The small parsers every adapter needs for a request, written once: torch-free and PIL-free at import.

Adapters (CLI, Discord, HTTP, Tumblr), storage and the renderer all read text, seeds, boxes and pictures
the same way through these, so a prompt typed in one place draws the same picture as in another.
"""

from __future__ import annotations

import random
import re
import unicodedata
from typing import TYPE_CHECKING

from generation.types import Box

if TYPE_CHECKING:
    from PIL import Image

# The samplers of both stages (generation.schedulers builds them): DDPM ancestral as in the original
# tumblr autoresponder model, DDIM, and DPM-Solver++.
SAMPLERS = ("ddpm", "ddim", "dpmsolver")
# The largest seed anything accepts: a torch generator's seed is a signed 64-bit number.
MAX_SEED = 2**63 - 1
# The super-resolution stage of a candidate drawn from seed s uses s + SR_SEED_OFFSET: its noise is
# independent of the base stage's, and one seed still redraws the whole cascade.
SR_SEED_OFFSET = 10_000
# Random seeds are drawn below this, so the seed shown with a picture can be typed back into any client
# (Discord's integer options stop at 2**53).
RANDOM_SEEDS = 2**32
# The text encoder reads ByT5 byte tokens: a prompt's UTF-8 bytes and one end token, 384 in all.
MAX_PROMPT_BYTES = 383
_SPACES_AROUND_NEWLINE = re.compile(r"[ \t]*\n[ \t]*")
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def unescape_newlines(text: str) -> str:
    r"""Shells and slash-command options make real line breaks awkward, so `\n` starts a new line;
    `\\n` keeps a literal backslash-n."""
    placeholder = "\x00"
    return text.replace("\\\\n", placeholder).replace("\\n", "\n").replace(placeholder, "\\n")


def normalize_prompt(text: str) -> str:
    """A prompt as the model reads it: line breaks unified, spaces around them and at both ends dropped
    (as the original did before encoding)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SPACES_AROUND_NEWLINE.sub("\n", text).strip(" \t")


class PromptError(ValueError):
    """A prompt the model cannot take; the message says which prompt and why."""


def check_prompt(text: str, index: int = 0, max_bytes: int = MAX_PROMPT_BYTES) -> str:
    """The prompt normalised, or PromptError: not a string, a control or unassigned character the renderer
    could never have drawn, or more UTF-8 bytes than the text encoder reads (its tokens are bytes).

    Torch-free, so a command refuses a bad prompt before it spends seconds loading the model; the tokenizer
    runs the same check when it encodes."""
    if not isinstance(text, str):
        raise PromptError(f"prompt {index} must be a string, got {type(text).__name__}")
    text = normalize_prompt(text)
    for position, char in enumerate(text):
        if char != "\n" and unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn"):
            raise PromptError(
                f"prompt {index} has an unsupported control or unassigned character "
                f"{char!r} (U+{ord(char):04X}) at position {position}; only printable text and newlines can be drawn"
            )
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise PromptError(
            f"prompt {index} is {size} bytes long after normalisation; the limit is "
            f"{max_bytes} bytes ({max_bytes + 1} tokens with the end token). Shorten it."
        )
    return text


def random_seed(rng: random.Random | None = None) -> int:
    """A seed for a request that named none, small enough to type back in (see RANDOM_SEEDS)."""
    return (rng or random.SystemRandom()).randrange(RANDOM_SEEDS)


def format_box(box: Box) -> str:
    """A box as the jobs table keeps it, and as the CLI and Discord take it: "x,y,w,h"."""
    return ",".join(str(value) for value in box)


def parse_box(text: str) -> Box:
    """"x,y,w,h" back into four whole numbers; ValueError naming the text when it is not that.

    ASCII digits with at most one leading minus: str.isdigit() also takes "²", and lstrip("-") took "--4",
    both of which int() then refused with a traceback."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4 or not all(_WHOLE_NUMBER.fullmatch(part) for part in parts):
        raise ValueError(f"a box is four whole numbers X,Y,W,H (left, top, width, height in pixels), not {text!r}")
    x, y, w, h = (int(part) for part in parts)
    return (x, y, w, h)


def png_bytes(image: Image.Image) -> bytes:
    """A PIL picture as the bytes of a PNG file (how pictures travel in requests and results)."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
