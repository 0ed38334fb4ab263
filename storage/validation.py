"""Checks a submission before it becomes a row, so bad input fails at the adapter with a specific message.

Kept apart from the queue so adapters can validate a form (say, a Discord modal) without a database.
"""

from __future__ import annotations

import math
import unicodedata

from generation.types import ALIGNMENTS, LAYOUT_MODES, RenderRequest
from storage.errors import InvalidJob
from storage.types import SOURCES, Job, JobSubmission, QueueLimits

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_INIT_IMAGE_BYTES = 20 * 1024 * 1024
# The pipeline's samplers (generation.schedulers.SAMPLERS, which imports diffusers; a test keeps them equal).
SCHEDULERS = ("ddpm", "ddim", "dpmsolver")


def validate_submission(submission: JobSubmission, limits: QueueLimits) -> None:
    """Raise InvalidJob naming the first field that is wrong and why."""
    if submission.source not in SOURCES:
        raise InvalidJob(f"source must be one of {', '.join(SOURCES)}, not {submission.source!r}")
    _check_text("requester id", submission.requester_id, 64, required=True)
    _check_text("requester name", submission.requester_name, 200)
    _check_text("place", submission.place, 200)
    if submission.idempotency_key is not None:
        _check_text("idempotency key", submission.idempotency_key, 200, required=True)
    validate_request(submission.request, limits)


def validate_request(request: RenderRequest, limits: QueueLimits) -> None:
    _check_prompt("prompt", request.prompt, limits.max_prompt_chars, required=True)
    _check_prompt("negative prompt", request.negative_prompt, limits.max_prompt_chars)
    _check_range("guidance scale", request.guidance_scale, 0.0, 30.0)
    _check_range("super-resolution guidance scale", request.sr_guidance_scale, 0.0, 30.0)
    _check_int("inference steps", request.num_inference_steps, 1, 1000)
    _check_int("super-resolution inference steps", request.sr_num_inference_steps, 1, 1000)
    _check_int("candidates", request.candidates, 1, limits.max_candidates)
    if request.seed is not None:
        _check_int("seed", request.seed, 0, 2**63 - 1)
    if request.scheduler not in SCHEDULERS:
        raise InvalidJob(f"scheduler {request.scheduler!r} is not one of {', '.join(SCHEDULERS)}")
    if request.layout not in LAYOUT_MODES:
        raise InvalidJob(f"layout {request.layout!r} is not one of {', '.join(LAYOUT_MODES)}")
    if request.align is not None and request.align not in ALIGNMENTS:
        raise InvalidJob(f"alignment {request.align!r} is not one of {', '.join(ALIGNMENTS)}")
    if request.font is not None:
        _check_text("font", request.font, 200, required=True)
    if request.init_image_png is not None:
        if not request.init_image_png.startswith(PNG_SIGNATURE):
            raise InvalidJob("the init image is not a PNG file")
        if len(request.init_image_png) > MAX_INIT_IMAGE_BYTES:
            raise InvalidJob(f"the init image is larger than {MAX_INIT_IMAGE_BYTES // (1024 * 1024)} MiB")
        _check_range("strength", request.strength, 0.0, 1.0, low_inclusive=False)


def same_request(job: Job, request: RenderRequest) -> bool:
    """Whether `job` was queued for `request`: a reused idempotency key must carry the same request,
    or the caller would silently get a job drawing something else."""
    return (job.prompt, job.negative_prompt, job.guidance_scale, job.sr_guidance_scale, job.num_inference_steps,
            job.sr_num_inference_steps, job.scheduler, job.candidates, job.seed, job.layout, job.font, job.align) == (
        request.prompt, request.negative_prompt, request.guidance_scale, request.sr_guidance_scale,
        request.num_inference_steps, request.sr_num_inference_steps, request.scheduler, request.candidates, request.seed,
        request.layout, request.font, request.align)


def _check_prompt(name: str, value: str, max_chars: int, *, required: bool = False) -> None:
    if not isinstance(value, str):
        raise InvalidJob(f"{name} must be text")
    if required and not value.strip():
        raise InvalidJob(f"{name} is empty")
    if len(value) > max_chars:
        raise InvalidJob(f"{name} has {len(value)} characters; the limit is {max_chars}")
    for index, char in enumerate(value):
        # Newlines separate the lines of text in the image; other control characters have no glyph,
        # and NUL cannot even be stored in a PostgreSQL text column.
        if char not in "\n\t" and unicodedata.category(char) in ("Cc", "Cs"):
            raise InvalidJob(f"{name} contains the unsupported character U+{ord(char):04X} at position {index + 1}")


def _check_text(name: str, value: str, max_chars: int, *, required: bool = False) -> None:
    if not isinstance(value, str):
        raise InvalidJob(f"{name} must be text")
    if required and not value:
        raise InvalidJob(f"{name} is empty")
    if len(value) > max_chars:
        raise InvalidJob(f"{name} is longer than {max_chars} characters")
    if "\x00" in value:
        raise InvalidJob(f"{name} contains a NUL character")


def _check_range(name: str, value: float, low: float, high: float, *, low_inclusive: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidJob(f"{name} must be a finite number")
    if value > high or value < low or (value == low and not low_inclusive):
        bracket = "[" if low_inclusive else "("
        raise InvalidJob(f"{name} {value} is outside {bracket}{low}, {high}]")


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJob(f"{name} must be a whole number")
    if not low <= value <= high:
        raise InvalidJob(f"{name} {value} is outside {low}..{high}")
