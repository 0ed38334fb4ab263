"""Checks a submission before it becomes a row, so bad input fails at the adapter with a specific message.

Kept apart from the queue so adapters can validate a form (say, a Discord modal) without a database.
"""

from __future__ import annotations

import re
import struct
import unicodedata

from generation.request_options import first_problem, row_values
from generation.request_parsers import format_box, normalize_prompt
from generation.photo_box import BoxError, check_box
from generation.types import RenderRequest, tween_conflicts
from storage.errors import InvalidJob
from storage.images import sha256_hex
from storage.picture_gate import MAX_PICTURE_BYTES, PictureRefused, check_picture
from storage.types import SOURCES, Job, JobSubmission, QueueLimits

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_INIT_IMAGE_BYTES = MAX_PICTURE_BYTES
# A style's name: what `glyphbot style learn NAME` accepts, safe as a file name and in a prompt.
STYLE_NAME = re.compile(r"[a-z0-9_-]{1,32}")


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
    """Raise InvalidJob naming the first option that is wrong: ranges and choices as the request spine
    (generation.request_options) declares them, then what depends on more than one value."""
    _check_prompt("prompt", request.prompt, limits.max_prompt_chars, required=True)
    _check_prompt("negative prompt", request.negative_prompt, limits.max_prompt_chars)
    problem = first_problem(request, limits.max_candidates)
    if problem:
        raise InvalidJob(problem)
    if request.font is not None:
        _check_text("font", request.font, 200, required=True)
    if request.init_image_png is not None:
        check_png("the init image", request.init_image_png)
    _check_kind(request, limits)
    _check_style(request)
    _check_box(request)


def check_style_name(name: object) -> str:
    """The name itself, or InvalidJob saying what a style name may be."""
    if not isinstance(name, str) or not STYLE_NAME.fullmatch(name):
        raise InvalidJob(f"style name {name!r} must be 1 to 32 characters of a-z, 0-9, _ and - (lowercase)")
    return name


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None when the bytes do not start like a PNG.

    Read by hand, so storage and adapters can check a box against the picture without PIL."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def check_png(what: str, data: object) -> None:
    """Refuse anything but a whole, well-formed PNG within the byte and pixel caps (storage.picture_gate):
    what the queue takes, the worker can decode. The queue checks a stored picture again with it before
    the worker renders (JobQueue.load_init_image)."""
    try:
        check_picture(data, what, formats=("png",), max_bytes=MAX_INIT_IMAGE_BYTES)
    except PictureRefused as error:
        raise InvalidJob(str(error)) from None


def _check_kind(request: RenderRequest, limits: QueueLimits) -> None:
    if request.kind != "tween":
        if request.end_prompt:
            raise InvalidJob("an end prompt belongs to a tween job (kind tween); this job is an imagine job")
        return
    _check_prompt("end prompt", request.end_prompt, limits.max_prompt_chars, required=True)
    # Blank lines before or after the text draw nothing either, so they do not make two ends differ.
    if normalize_prompt(request.end_prompt).strip() == normalize_prompt(request.prompt).strip():
        raise InvalidJob(f"the tween's two ends are the same text ({normalize_prompt(request.prompt).strip()!r}); give two different prompts")
    conflict = tween_conflicts(request)
    if conflict:
        raise InvalidJob(conflict)


def _check_style(request: RenderRequest) -> None:
    if request.style is not None:
        check_style_name(request.style)
    if request.style_tokens is not None:
        raise InvalidJob("style embeddings are not submitted with a job; name the style and the worker fetches them")
    if request.style_image_png is not None:
        check_png("the style image", request.style_image_png)


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
    size = png_size(request.init_image_png)  # its structure passed check_png already
    assert size is not None
    try:
        check_box(*size, (x, y, w, h))  # the renderer's own check: photo size, box size, edges
    except BoxError as error:
        raise InvalidJob(str(error)) from None


def same_request(job: Job, request: RenderRequest) -> bool:
    """Whether `job` was queued for `request`: a reused idempotency key must carry the same request,
    or the caller would silently get a job drawing something else."""
    pictures = [(job.init_image_hash, request.init_image_png), (job.style_image_hash, request.style_image_png)]
    return (job.prompt == request.prompt
            and all(getattr(job, name) == value for name, value in row_values(request).items())
            and all(stored == (None if png is None else sha256_hex(png)) for stored, png in pictures))


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
