"""Validating `/imagine` options against the configured limits, before anything is queued.

Every bad value gets its own line in the error, so a user fixes them all in one go instead of
discovering them one at a time. Pure: no discord.py, no database.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from bot.discord.settings import DiscordSettings
from generation.types import RenderRequest
from storage.errors import InvalidJob
from storage.types import QueueLimits
from storage.validation import validate_request

MAX_SEED = 2**32 - 1


class OptionErrors(ValueError):
    """One or more options were out of range; `problems` has one sentence per bad value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ImagineOptions:
    """A validated `/imagine`: one render request per image asked for (`count` of them, consecutive seeds)."""

    prompt: str
    negative: str
    guidance: float
    steps: int
    seed: int
    count: int
    strength: float
    init_image_png: bytes | None = None

    def requests(self, candidates: int) -> list[RenderRequest]:
        return [
            RenderRequest(
                prompt=self.prompt,
                negative_prompt=self.negative,
                guidance_scale=self.guidance,
                num_inference_steps=self.steps,
                seed=(self.seed + index) % (MAX_SEED + 1),
                candidates=candidates,
                init_image_png=self.init_image_png,
                strength=self.strength,
            )
            for index in range(self.count)
        ]

    def with_image(self, png: bytes | None) -> "ImagineOptions":
        return replace(self, init_image_png=png)


def unescape_newlines(text: str) -> str:
    r"""Slash-command options are single-line, so users write `\n`; `\\n` keeps a literal backslash-n."""
    placeholder = "\x00"
    return text.replace("\\\\n", placeholder).replace("\\n", "\n").replace(placeholder, "\\n")


def parse_imagine(
    settings: DiscordSettings,
    *,
    prompt: str,
    negative: str | None = None,
    guidance: float | None = None,
    steps: int | None = None,
    seed: int | None = None,
    count: int | None = None,
    strength: float | None = None,
    has_image: bool = False,
    rng: random.Random | None = None,
) -> ImagineOptions:
    """Return validated options or raise OptionErrors listing every bad value."""
    problems: list[str] = []
    prompt = unescape_newlines(prompt or "").strip()
    negative = unescape_newlines(negative or "").strip()
    _text(problems, "prompt", prompt, settings.max_prompt_chars, required=True)
    _text(problems, "negative", negative, settings.max_prompt_chars, required=False)
    guidance = settings.guidance_default if guidance is None else guidance
    _number(problems, "guidance", guidance, settings.guidance_min, settings.guidance_max)
    steps = settings.steps_default if steps is None else steps
    _number(problems, "steps", steps, settings.steps_min, settings.steps_max)
    count = settings.count_default if count is None else count
    _number(problems, "count", count, 1, settings.count_max)
    if seed is not None:
        _number(problems, "seed", seed, 0, MAX_SEED)
    if strength is not None and not has_image:
        problems.append("strength: only makes sense with an image; attach one with the `image` option or leave strength out.")
    strength = settings.strength_default if strength is None else strength
    if has_image and (not math.isfinite(strength) or not 0.0 < strength <= 1.0):
        problems.append(f"strength: {strength:g} is not allowed; use a value above 0 and at most 1.")
    if problems:
        raise OptionErrors(problems)
    chosen_seed = seed if seed is not None else (rng or random.SystemRandom()).randint(0, MAX_SEED)
    return ImagineOptions(prompt, negative, float(guidance), int(steps), chosen_seed, int(count), float(strength))


def check_form_options(
    settings: DiscordSettings, *, guidance: float | None, steps: int | None, seed: int | None, count: int | None
) -> dict[str, float | int | None]:
    """Check /imagine-lines' numbers before its form opens, so nobody types a long text only to learn
    afterwards that a number was out of range. Raises OptionErrors like parse_imagine; returns the
    numbers as given, for the form to pass on with the text."""
    parse_imagine(settings, prompt="form", guidance=guidance, steps=steps, seed=seed, count=count)
    return {"guidance": guidance, "steps": steps, "seed": seed, "count": count}


def _text(problems: list[str], name: str, value: str, limit: int, *, required: bool) -> None:
    if required and not value:
        problems.append(f"{name}: is empty; write the text the image should show.")
        return
    if len(value) > limit:
        problems.append(f"{name}: has {len(value)} characters; the limit is {limit}.")
        return
    if value:
        # storage's checks decide which characters can be stored and rendered; reuse them, don't restate them.
        try:
            validate_request(RenderRequest(prompt=value), QueueLimits(max_prompt_chars=limit))
        except InvalidJob as error:
            problems.append(f"{name}: {str(error).removeprefix('prompt ')}.")


def _number(problems: list[str], name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"{name}: must be a finite number.")
    elif not low <= value <= high:
        problems.append(f"{name}: {value:g} is out of range; use {low:g} to {high:g}.")
