"""Checks a submission before it becomes a row, so bad input fails at the adapter with a specific message.

Kept apart from the queue so adapters can validate a form (say, a Discord modal) without a database.
"""

from __future__ import annotations

import math
import re
import struct
import unicodedata

from generation.photo_box import BoxError, check_box
from generation.types import (
    ALIGNMENTS,
    JOB_KINDS,
    LAYOUT_MODES,
    MAX_STYLE_STRENGTH,
    MAX_TWEEN_FRAMES,
    MIN_TWEEN_FRAMES,
    RenderRequest,
    tween_conflicts,
)
from storage.errors import InvalidJob
from storage.images import sha256_hex
from storage.picture_gate import MAX_PICTURE_BYTES, PictureRefused, check_picture
from storage.types import SOURCES, Job, JobSubmission, QueueLimits, format_box

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_INIT_IMAGE_BYTES = MAX_PICTURE_BYTES
# The pipeline's samplers (generation.schedulers.SAMPLERS, which imports diffusers; a test keeps them equal).
SCHEDULERS = ("ddpm", "ddim", "dpmsolver")
# A style's name: what `glyphbot style learn NAME` accepts, safe as a file name and in a prompt.
STYLE_NAME = re.compile(r"[a-z0-9_-]{1,32}")
# generation.tokenizer.normalize_transcript's rule (repeated: that module imports torch).
_SPACES_AROUND_NEWLINE = re.compile(r"[ \t]*\n[ \t]*")


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
        _check_png("the init image", request.init_image_png)
        _check_range("strength", request.strength, 0.0, 1.0, low_inclusive=False)
    _check_kind(request, limits)
    _check_style(request)
    _check_box(request)


def check_style_name(name: object) -> str:
    """The name itself, or InvalidJob saying what a style name may be."""
    if not isinstance(name, str) or not STYLE_NAME.fullmatch(name):
        raise InvalidJob(f"style name {name!r} must be 1 to 32 characters of a-z, 0-9, _ and - (lowercase)")
    return name


def normalize_prompt(text: str) -> str:
    """A prompt as the model reads it: line breaks unified, spaces around them and at both ends dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SPACES_AROUND_NEWLINE.sub("\n", text).strip(" \t")


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None when the bytes do not start like a PNG.

    Read by hand, so storage and adapters can check a box against the picture without PIL."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _check_png(what: str, data: object) -> None:
    """Refuse anything but a whole, well-formed PNG within the byte and pixel caps (storage.picture_gate):
    what the queue takes, the worker can decode."""
    try:
        check_picture(data, what, formats=("png",), max_bytes=MAX_INIT_IMAGE_BYTES)
    except PictureRefused as error:
        raise InvalidJob(str(error)) from None


def _check_kind(request: RenderRequest, limits: QueueLimits) -> None:
    if request.kind not in JOB_KINDS:
        raise InvalidJob(f"job kind {request.kind!r} is not one of {', '.join(JOB_KINDS)}")
    if request.kind != "tween":
        if request.end_prompt:
            raise InvalidJob("an end prompt belongs to a tween job (kind tween); this job is an imagine job")
        return
    _check_prompt("end prompt", request.end_prompt, limits.max_prompt_chars, required=True)
    # Blank lines before or after the text draw nothing either, so they do not make two ends differ.
    if normalize_prompt(request.end_prompt).strip() == normalize_prompt(request.prompt).strip():
        raise InvalidJob(f"the tween's two ends are the same text ({normalize_prompt(request.prompt).strip()!r}); give two different prompts")
    _check_int("frames", request.frames, MIN_TWEEN_FRAMES, MAX_TWEEN_FRAMES)
    conflict = tween_conflicts(request)
    if conflict:
        raise InvalidJob(conflict)


def _check_style(request: RenderRequest) -> None:
    if request.style is not None:
        check_style_name(request.style)
    if request.style_tokens is not None:
        raise InvalidJob("style embeddings are not submitted with a job; name the style and the worker fetches them")
    if request.style_image_png is not None:
        _check_png("the style image", request.style_image_png)
    if request.style is not None or request.style_image_png is not None:
        _check_range("style strength", request.style_strength, 0.0, MAX_STYLE_STRENGTH, low_inclusive=False)


def _check_box(request: RenderRequest) -> None:
    box = request.box
    if box is None:
        return
    if request.init_image_png is None:
        raise InvalidJob("a box says where in your picture the text goes; give the picture too (the init image)")
    if not isinstance(box, tuple | list) or len(box) != 4 or any(isinstance(v, bool) or not isinstance(v, int) for v in box):
        raise InvalidJob(f"a box is four whole numbers X,Y,W,H, not {box!r}")
    x, y, w, h = box
    if x < 0 or y < 0:
        raise InvalidJob(f"box {format_box(box)} starts outside the picture (X and Y must be 0 or more)")
    if w < 1 or h < 1:
        raise InvalidJob(f"box {format_box(box)} has no area (width and height must be 1 or more)")
    size = png_size(request.init_image_png)  # its structure passed _check_png already
    assert size is not None
    try:
        check_box(*size, (x, y, w, h))  # the renderer's own check: photo size, box size, edges
    except BoxError as error:
        raise InvalidJob(str(error)) from None


def same_request(job: Job, request: RenderRequest) -> bool:
    """Whether `job` was queued for `request`: a reused idempotency key must carry the same request,
    or the caller would silently get a job drawing something else."""
    frames = request.frames if request.kind == "tween" else None
    return (job.prompt, job.negative_prompt, job.guidance_scale, job.sr_guidance_scale, job.num_inference_steps,
            job.sr_num_inference_steps, job.scheduler, job.candidates, job.seed, job.layout, job.font, job.align,
            job.kind, job.end_prompt, job.frames, job.style, job.box_tuple,
            job.style_image_hash) == (
        request.prompt, request.negative_prompt, request.guidance_scale, request.sr_guidance_scale,
        request.num_inference_steps, request.sr_num_inference_steps, request.scheduler, request.candidates, request.seed,
        request.layout, request.font, request.align,
        request.kind, request.end_prompt, frames, request.style, None if request.box is None else tuple(request.box),
        None if request.style_image_png is None else sha256_hex(request.style_image_png))


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
