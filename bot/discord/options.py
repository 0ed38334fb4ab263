"""Validating `/imagine` options against the configured limits, before anything is queued.

Every bad value gets its own line in the error, so a user fixes them all in one go instead of
discovering them one at a time. Pure: no discord.py, no database.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Protocol

from bot.discord.attachments import Picture
from bot.discord.photo import Placement, parse_placement
from bot.discord.settings import DiscordSettings
from generation.request_options import asked, option
from generation.request_parsers import MAX_SEED, random_seed, unescape_newlines
from generation.types import MAX_STYLE_STRENGTH, Box, RenderRequest
from storage.errors import InvalidJob
from storage.types import QueueLimits
from storage.validation import check_style_name, validate_request


class OptionErrors(ValueError):
    """One or more options were out of range; `problems` has one sentence per bad value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Submittable(Protocol):
    """What `imagine.submit_and_deliver` queues: the text the reply quotes and one request per job."""

    @property
    def title(self) -> str: ...

    def requests(self, candidates: int | None) -> list[RenderRequest]: ...


@dataclass(frozen=True)
class ImagineOptions:
    """A validated `/imagine`: one render request per image asked for (`count` of them, consecutive seeds).

    `placement` is what the user asked for (box or where); `box` is it resolved against the attached
    picture, once that has been read (`with_pictures`). `defaults` is what the user left out: `[generation]`'s."""

    defaults: RenderRequest
    prompt: str
    negative: str
    guidance: float
    steps: int
    seed: int
    count: int
    strength: float
    init_image_png: bytes | None = None
    style: str | None = None
    style_strength: float = 0.5
    style_image_png: bytes | None = None
    placement: Placement | None = None
    box: Box | None = None
    template: str | None = None

    @property
    def title(self) -> str:
        return self.prompt

    def requests(self, candidates: int | None) -> list[RenderRequest]:
        """One request per image, on consecutive seeds; `candidates` None: the defaults' number."""
        return [
            asked(
                self.defaults, self.prompt, negative_prompt=self.negative, guidance_scale=self.guidance,
                num_inference_steps=self.steps, seed=(self.seed + index) % (MAX_SEED + 1), candidates=candidates,
                init_image_png=self.init_image_png, strength=self.strength, style=self.style,
                style_image_png=self.style_image_png, style_strength=self.style_strength, box=self.box, template=self.template,
            )
            for index in range(self.count)
        ]

    def with_pictures(self, image: Picture | None, style_image: Picture | None = None) -> "ImagineOptions":
        """The options with the attached pictures read; ValueError starting with the option's name when
        the box does not fit the picture."""
        box = None
        if self.placement is not None and image is not None:
            try:
                box = self.placement.resolve(image)
            except ValueError as error:
                raise ValueError(f"box: {error}") from None
        return replace(
            self, init_image_png=image.png if image else None, box=box,
            style_image_png=style_image.png if style_image else None,
        )


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
    style: str | None = None,
    style_strength: float | None = None,
    has_style_image: bool = False,
    box: str | None = None,
    where: str | None = None,
    template: str | None = None,
    rng: random.Random | None = None,
) -> ImagineOptions:
    """Return validated options or raise OptionErrors listing every bad value; what is left out is
    `[generation]`'s (settings.defaults)."""
    problems: list[str] = []
    prompt = typed_text(problems, "prompt", prompt, settings.max_prompt_chars, required=True)
    negative = typed_text(problems, "negative", negative, settings.max_prompt_chars, required=False)
    guidance = settings.defaults.guidance_scale if guidance is None else guidance
    check_number(problems, "guidance", guidance, settings.guidance_min, settings.guidance_max)
    steps = settings.defaults.num_inference_steps if steps is None else steps
    check_number(problems, "steps", steps, settings.steps_min, settings.steps_max)
    count = settings.count_default if count is None else count
    check_number(problems, "count", count, 1, settings.count_max)
    check_seed(problems, seed)
    if strength is not None and not has_image:
        problems.append("strength: only makes sense with an image; attach one with the `image` option or leave strength out.")
    strength = settings.strength_default if strength is None else strength
    if has_image:
        _fraction(problems, "strength", strength, 1.0)
    style = check_style(problems, style)
    if style_strength is not None and style is None and not has_style_image:
        problems.append("style_strength: only makes sense with a style or a style_image; give one or leave style_strength out.")
    style_strength = settings.style_strength_default if style_strength is None else style_strength
    _fraction(problems, "style_strength", style_strength, MAX_STYLE_STRENGTH)
    placement, placement_problems = parse_placement(box, where, has_image=has_image)
    problems += placement_problems
    template_problem = option("template").problem(template)
    if template_problem:
        problems.append(f"template: {template_problem.removeprefix('template ')}.")
    if problems:
        raise OptionErrors(problems)
    return ImagineOptions(
        settings.defaults, prompt, negative, float(guidance), int(steps), pick_seed(seed, rng), int(count), float(strength),
        style=style, style_strength=float(style_strength), placement=placement, template=template,
    )


def check_style(problems: list[str], style: str | None) -> str | None:
    """A style name as storage keeps it (lowercase); a problem when it cannot be one. Whether the style
    exists is storage's to say at submission: a style may be learned or deleted at any moment."""
    style = (style or "").strip().lower() or None
    if style is not None:
        try:
            check_style_name(style)
        except InvalidJob as error:
            problems.append(f"style: {str(error).removeprefix('style name ')}.")
    return style


def check_form_options(
    settings: DiscordSettings, *, guidance: float | None, steps: int | None, seed: int | None, count: int | None
) -> dict[str, float | int | None]:
    """Check /imagine-lines' numbers before its form opens, so nobody types a long text only to learn
    afterwards that a number was out of range. Raises OptionErrors like parse_imagine; returns the
    numbers as given, for the form to pass on with the text."""
    parse_imagine(settings, prompt="form", guidance=guidance, steps=steps, seed=seed, count=count)
    return {"guidance": guidance, "steps": steps, "seed": seed, "count": count}


def _fraction(problems: list[str], name: str, value: float, high: float) -> None:
    if not math.isfinite(value) or not 0.0 < value <= high:
        problems.append(f"{name}: {value:g} is not allowed; use a value above 0 and at most {high:g}.")


def typed_text(problems: list[str], name: str, value: str | None, limit: int, *, required: bool) -> str:
    """A text option as the job takes it (`\\n` read as a line break, ends stripped), its problems noted."""
    text = unescape_newlines(value or "").strip()
    check_text(problems, name, text, limit, required=required)
    return text


def check_seed(problems: list[str], seed: int | None) -> None:
    if seed is not None:
        check_number(problems, "seed", seed, 0, MAX_SEED)


def pick_seed(seed: int | None, rng: random.Random | None = None) -> int:
    """The seed given, or a random one (shown with the result, so the picture can be made again)."""
    return seed if seed is not None else random_seed(rng)


def check_text(problems: list[str], name: str, value: str, limit: int, *, required: bool) -> None:
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


def check_number(problems: list[str], name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"{name}: must be a finite number.")
    elif not low <= value <= high:
        problems.append(f"{name}: {value:g} is out of range; use {low:g} to {high:g}.")
