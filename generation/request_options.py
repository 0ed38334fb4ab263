"""The request spine: every per-request render option, declared once, and what every adapter derives from it.

`RenderRequest` (generation.types) declares each option's name, type and shipped default; `OPTIONS`
adds what the rest of the system needs to know about it: the range or choices it may take, one line of
help, whether `[generation]` configures its default, and the name each adapter shows it under (a CLI
flag on `imagine` and `jobs submit`, a Discord `/imagine` option, an HTTP job field). Storage's
validation, the job row's columns (same names), the HTTP schema, the CLI flags, Discord's option
descriptions and the `[generation]` settings are all built from here, so adding an option means: this
table (and a RenderRequest field), the code that uses it, a job row column, and tests.

Torch-free and database-free: adapters and storage import it without the model stack.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from generation.request_parsers import MAX_SEED, SAMPLERS, format_box, parse_box
from generation.types import (
    ALIGNMENTS,
    JOB_KINDS,
    LAYOUT_MODES,
    MAX_STYLE_STRENGTH,
    MAX_TWEEN_FRAMES,
    MIN_TWEEN_FRAMES,
    TEMPLATES,
    RenderRequest,
)

# Where an HTTP field lives: inside the job's `options` object (the generation settings) or beside the prompt.
HTTP_OPTIONS = "options."


def _has_picture(request: RenderRequest) -> bool:
    return request.init_image_png is not None


def _is_styled(request: RenderRequest) -> bool:
    return request.style is not None or request.style_image_png is not None


def _is_tween(request: RenderRequest) -> bool:
    return request.kind == "tween"


@dataclass(frozen=True)
class RenderOption:
    """One per-request option: how it is checked, described and named by each adapter.

    `low`/`high` bound numbers (both included, unless `above_low`: strengths must be above 0);
    `choices` lists the only values a text option takes; `optional` options may be None ("not pinned");
    `applies` says when the option matters at all (a strength without a picture is not checked).
    `lines`: free text in which a typed `\\n` starts a new line, like the prompt's.
    `setting`: `[generation]` holds the option's default for every adapter. `cli`, `discord`, `http`:
    the names it is shown under (None: that adapter does not offer it)."""

    name: str
    type: type
    label: str
    help: str
    low: float | None = None
    high: float | None = None
    above_low: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    applies: Callable[[RenderRequest], bool] | None = None
    lines: bool = False
    setting: bool = False
    cli: str | None = None
    discord: str | None = None
    http: str | None = None

    @property
    def default(self) -> Any:
        """The shipped default: RenderRequest's (what `[generation]` starts from, for `setting` options)."""
        return RENDER_REQUEST_FIELDS[self.name].default

    def problem(self, value: object, high: float | None = None) -> str | None:
        """Why `value` cannot be this option's (one sentence naming the option), or None when it can.
        `high` replaces the declared upper bound (the queue's configured most candidates)."""
        if value is None and self.optional:
            return None
        if self.type is str:
            if not isinstance(value, str):
                return f"{self.label} must be text"
            if self.choices and value not in self.choices:
                return f"{self.label} {value!r} is not one of {', '.join(self.choices)}"
            return None
        high = self.high if high is None else high
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{self.label} must be a whole number"
            if (self.low is not None and value < self.low) or (high is not None and value > high):
                return f"{self.label} {value} is outside {self.low}..{high}"
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{self.label} must be a finite number"
        below = self.low is not None and (value < self.low or (value == self.low and self.above_low))
        if below or (high is not None and value > high):
            return f"{self.label} {value} is outside {'(' if self.above_low else '['}{self.low}, {high}]"
        return None


RENDER_REQUEST_FIELDS = {field.name: field for field in dataclasses.fields(RenderRequest)}

OPTIONS: tuple[RenderOption, ...] = (
    RenderOption("negative_prompt", str, "negative prompt",
                 "Negative prompt (antiprompt): what the unconditional branch of guidance steers away from.",
                 lines=True, cli="--negative", discord="negative", http="negative_prompt"),
    RenderOption("guidance_scale", float, "guidance scale",
                 "Classifier-free guidance of the base stage: uncond + g·(cond − uncond); 1 = conditional only.",
                 low=0.0, high=30.0, setting=True, cli="--guidance", discord="guidance", http="options.guidance_scale"),
    RenderOption("sr_guidance_scale", float, "super-resolution guidance scale", "Guidance of the super-resolution stage.",
                 low=0.0, high=30.0, setting=True, cli="--sr-guidance", http="options.sr_guidance_scale"),
    RenderOption("num_inference_steps", int, "inference steps", "Sampler steps of the base stage.",
                 low=1, high=1000, setting=True, cli="--steps", discord="steps", http="options.num_inference_steps"),
    RenderOption("sr_num_inference_steps", int, "super-resolution inference steps", "Sampler steps of the super-resolution stage.",
                 low=1, high=1000, setting=True, cli="--sr-steps", http="options.sr_num_inference_steps"),
    RenderOption("scheduler", str, "scheduler",
                 "Sampler of both stages: ddpm (the original's, ancestral), ddim or dpmsolver (DPM-Solver++).",
                 choices=SAMPLERS, setting=True, cli="--scheduler", http="options.scheduler"),
    RenderOption("seed", int, "seed", "Seed of the first candidate (candidate i uses seed + i); random when not given.",
                 low=0, high=MAX_SEED, optional=True, cli="--seed", discord="seed", http="options.seed"),
    RenderOption("candidates", int, "candidates", "Base candidates drawn and read back with OCR; the best is kept.",
                 low=1, high=64, setting=True, cli="--candidates", http="options.candidates"),
    RenderOption("strength", float, "strength", "With a picture to start from: how much of it is redrawn (0 keeps it, 1 ignores it).",
                 low=0.0, high=1.0, above_low=True, applies=_has_picture, cli="--strength", discord="strength", http="strength"),
    RenderOption("layout", str, "layout",
                 "glyph: each candidate follows a text layout drawn from its seed; none: the model alone.",
                 choices=LAYOUT_MODES, cli="--layout"),
    RenderOption("font", str, "font", "Font of the layout by name (`glyphbot fonts`); default: each candidate's seed picks.",
                 optional=True, cli="--font"),
    RenderOption("align", str, "alignment", "left, center or right; default: each candidate's seed picks.",
                 choices=ALIGNMENTS, optional=True, cli="--align"),
    RenderOption("template", str, "template",
                 "What the picture is: " + ", ".join(TEMPLATES) + " (`glyphbot templates`); default: picked from the text's shape.",
                 choices=TEMPLATES, optional=True, cli="--template", discord="template", http="options.template"),
    RenderOption("style", str, "style", "A learned style by name (`glyphbot style list`).",
                 optional=True, cli="--style", discord="style", http="style"),
    RenderOption("style_strength", float, "style strength",
                 "How strongly the style or the reference picture steers the result, above 0 up to 1.",
                 low=0.0, high=MAX_STYLE_STRENGTH, above_low=True, applies=_is_styled, cli="--style-strength",
                 discord="style_strength", http="style_strength"),
    RenderOption("kind", str, "job kind", "imagine, or tween: frames from the prompt to the end prompt and a GIF of them.",
                 choices=JOB_KINDS, cli="--kind", http="kind"),
    RenderOption("end_prompt", str, "end prompt", "A tween's last frame's text.", lines=True, cli="--end-prompt", http="end_prompt"),
    RenderOption("frames", int, "frames", "A tween's frame count, both ends included.",
                 low=MIN_TWEEN_FRAMES, high=MAX_TWEEN_FRAMES, applies=_is_tween, cli="--frames", discord="frames", http="frames"),
)
BY_NAME = {option.name: option for option in OPTIONS}
# RenderRequest's fields that are not options a user sets by value: the text itself, the pictures and the
# box (bytes and pixels, each checked by storage on its own), and the style's embeddings (fetched by the worker).
NOT_OPTIONS = ("prompt", "init_image_png", "style_image_png", "style_tokens", "box")


def option(name: str) -> RenderOption:
    """The declaration of one option by its RenderRequest name; KeyError for anything else."""
    return BY_NAME[name]


def first_problem(request: RenderRequest, most_candidates: int | None = None) -> str | None:
    """Why `request` cannot be rendered as asked, naming the first option out of its declared range
    or choices (of those that apply to it), or None. `most_candidates`: the queue's configured most."""
    for declared in OPTIONS:
        if declared.applies is None or declared.applies(request):
            problem = declared.problem(getattr(request, declared.name), most_candidates if declared.name == "candidates" else None)
            if problem:
                return problem
    return None


def configured(section: Mapping[str, Any] | None = None) -> RenderRequest:
    """The request every adapter starts from: `[generation]`'s values (a mapping of setting -> value;
    None: the shipped defaults) for the options it configures, RenderRequest's defaults for the rest."""
    section = section or {}
    return RenderRequest(prompt="", **{o.name: section[o.name] for o in OPTIONS if o.setting and o.name in section})


def asked(defaults: RenderRequest, prompt: str, **given: Any) -> RenderRequest:
    """`defaults` with the prompt and every option the user gave (None: not given, keep the default).
    Options that may be None on purpose (font, seed) are None in the defaults anyway."""
    return dataclasses.replace(defaults, prompt=prompt, **{name: value for name, value in given.items() if value is not None})


def row_values(request: RenderRequest) -> dict[str, Any]:
    """The job row's columns for a request's options (pictures are stored apart, by hash)."""
    values = {o.name: float(getattr(request, o.name)) if o.type is float else getattr(request, o.name) for o in OPTIONS}
    values["frames"] = request.frames if _is_tween(request) else None
    values["box"] = None if request.box is None else format_box(request.box)
    return values


def request_values(row: Any) -> dict[str, Any]:
    """RenderRequest's option fields back from a job row (or a `storage.types.Job` snapshot of one)."""
    values = {o.name: getattr(row, o.name) for o in OPTIONS}
    if values["frames"] is None:
        del values["frames"]  # an imagine job: RenderRequest's default, as it was asked
    values["box"] = None if row.box is None else parse_box(row.box)
    return values
