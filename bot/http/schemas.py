"""Request and response models of the JSON API: the single source of validation and of the OpenAPI schemas.

The render options' types, bounds, choices and help come from the request spine
(generation.request_options), as storage's validation does (which stays the final authority at
submission), so a request this schema accepts is one storage accepts too.
Text fields refuse control characters with a pattern (not a Python validator) so that the rule also
appears in the published document and fuzzers generate only what the server really accepts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

from bot.tumblr.autoresponder import STATES
from bot.tumblr.models import POST_STATUSES
from generation.request_options import HTTP_OPTIONS, OPTIONS, RenderOption, configured, option
from generation.types import STYLE_METHODS
from storage.types import QueueLimits
from storage.validation import MAX_INIT_IMAGE_BYTES

_DEFAULTS = configured()
_LIMITS = QueueLimits()

# Any character but C0/C1 controls other than tab and newline (they have no glyph; NUL cannot be stored).
_PRINTABLE = r"[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]"
_VISIBLE = r"[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f]"
PROMPT_PATTERN = f"^{_PRINTABLE}*{_VISIBLE}{_PRINTABLE}*$"
OPTIONAL_TEXT_PATTERN = f"^{_PRINTABLE}*$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:\-]+$"

# A string format of our own: JSON Schema cannot say "one well-formed image block", so the format names it.
TRANSCRIPT_FORMAT = "glyphbot-transcript"

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobKind = Literal["imagine", "tween"]  # generation.types.JOB_KINDS
StyleMethod = Literal[STYLE_METHODS]  # type: ignore[valid-type]  vectors | lora, storage.styles keeps which
STYLE_NAME_PATTERN = r"^[a-z0-9_-]{1,32}$"  # storage.validation.STYLE_NAME
# Standard base64 (RFC 4648 §4, padded) of a PNG file; storage checks that the bytes are a PNG.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
MAX_PICTURE_BASE64 = 4 * -(-MAX_INIT_IMAGE_BYTES // 3)
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="Lowercase hex SHA-256 of the image file.")]


def _whole(value: object) -> object:
    # JSON Schema's "integer" includes 3.0, and some JSON encoders write every number as a float.
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _option_field(declared: RenderOption) -> tuple[Any, Any]:
    """One `options` field as the request spine declares the option: its type or choices, bounds and help.
    The default published is the shipped one; a field left out takes the server's `[generation]` value."""
    most = _LIMITS.max_candidates if declared.name == "candidates" else declared.high
    bounds = {key: value for key, value in (("gt" if declared.above_low else "ge", declared.low), ("le", most)) if value is not None}
    kind: Any = Literal[declared.choices] if declared.choices else declared.type
    if declared.optional:  # the bounds go inside, before the validator, or pydantic does not publish them
        whole = (BeforeValidator(_whole),) if declared.type is int else ()
        return Annotated[kind, Field(**bounds), *whole] | None, Field(None, description=declared.help)
    kind = WholeNumber if declared.type is int else kind
    return kind, Field(getattr(_DEFAULTS, declared.name), description=declared.help, **bounds)


# The `options` object: every option the request spine places there (HTTP_OPTIONS), under its own name.
OPTION_FIELDS = {o.http.removeprefix(HTTP_OPTIONS): o.name for o in OPTIONS if o.http and o.http.startswith(HTTP_OPTIONS)}
JobOptions = create_model(
    "JobOptions", __base__=_Strict, __doc__="Generation settings; every field may be left out to use the server's default.",
    **{field: _option_field(option(name)) for field, name in OPTION_FIELDS.items()},
)


def _refuse_null(value: object) -> object:
    if value is None:
        raise ValueError("leave the field out instead of sending null")
    return value


# An optional field that may be left out but not sent as null: its default None only means "not given".
NotNull = BeforeValidator(_refuse_null)


def _not_null_in_schema(*names: str) -> Callable[[dict[str, Any]], None]:
    """Publish the `NotNull` fields `names` with their one real type (no null, no default), so clients
    and fuzzers see what the validator accepts."""

    def edit(schema: dict[str, Any]) -> None:
        for name in names:
            field = schema["properties"][name]
            field.update(next(option for option in field.pop("anyOf") if option.get("type") != "null"))
            field.pop("default", None)

    return edit


def _exactly_one_of(first: str, second: str) -> Callable[[dict[str, Any]], None]:
    """Publish "exactly one of `first` or `second`" (two `NotNull` fields) in the schema itself, not only in
    the model's validator, so clients and fuzzers see the rule: `oneOf` requires one."""
    plain = _not_null_in_schema(first, second)

    def edit(schema: dict[str, Any]) -> None:
        plain(schema)
        schema["oneOf"] = [{"required": [first]}, {"required": [second]}]

    return edit


class _EitherOr(_Strict):
    """A body that needs exactly one of two fields, `either_or` (publish it with `_exactly_one_of` too)."""

    either_or: ClassVar[tuple[str, str]]

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        first, second = self.either_or
        if (getattr(self, first) is None) == (getattr(self, second) is None):
            raise ValueError(f"give exactly one of `{first}` or `{second}`")
        return self


# Fields whose validity depends on more than their shape: which styles exist now, the pixels of a
# picture (a PNG whose box fits), whether a tween's two ends differ. Storage checks them (422 `invalid_job`).
SERVER_CHECKED_FIELDS = ("style", "style_image", "init_image", "box", "end_prompt")


def _submit_schema(schema: dict[str, Any]) -> None:
    _exactly_one_of("prompt", "transcript")(schema)
    _not_null_in_schema("style", "style_image", "init_image", "box")(schema)
    schema["dependentRequired"] = {"box": ["init_image"]}


class SubmitJob(_EitherOr):
    """A job: exactly one of `prompt` (the text to draw) or `transcript` (one `=======` image block)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_submit_schema)
    either_or = ("prompt", "transcript")

    prompt: Annotated[str | None, NotNull] = Field(
        None, min_length=1, max_length=_LIMITS.max_prompt_chars, pattern=PROMPT_PATTERN,
        description="The text that should appear in the image; newlines separate lines.")
    transcript: Annotated[str | None, NotNull] = Field(
        None, min_length=1, max_length=4 * _LIMITS.max_prompt_chars, pattern=PROMPT_PATTERN,
        json_schema_extra={"format": TRANSCRIPT_FORMAT},
        description="One image block in the bot's format: lines of `=======` around the text, "
                    "optionally preceded by a caption block; nothing else.")
    negative_prompt: str = Field("", max_length=_LIMITS.max_prompt_chars, pattern=OPTIONAL_TEXT_PATTERN,
                                 description="Antiprompt: what the unconditional branch of guidance steers away from.")
    options: JobOptions = Field(default_factory=JobOptions)
    idempotency_key: str | None = Field(None, min_length=1, max_length=100, pattern=IDEMPOTENCY_KEY_PATTERN,
                                        description="Resubmitting with the same key returns the first job instead of a new one.")
    place: str = Field("", max_length=200, pattern=OPTIONAL_TEXT_PATTERN,
                       description="Free-form label of where the request comes from (a blog, a channel), for moderators.")
    kind: JobKind = Field("imagine", description="`imagine`: candidates reranked by OCR; `tween`: frames from `prompt` to "
                                                 "`end_prompt` with the noise held fixed, and an animated GIF of them.")
    end_prompt: str = Field("", max_length=_LIMITS.max_prompt_chars, pattern=OPTIONAL_TEXT_PATTERN,
                            description="A tween's last frame's text (required for `tween`, different from the prompt).")
    frames: WholeNumber = _option_field(option("frames"))[1]
    style: Annotated[str | None, NotNull] = Field(None, pattern=STYLE_NAME_PATTERN,
                                                  description="A learned style by name (`GET /styles`).")
    style_image: Annotated[str | None, NotNull] = Field(
        None, min_length=4, max_length=MAX_PICTURE_BASE64, pattern=BASE64_PATTERN,
        description="Base64 of a PNG whose palette and texture the result takes on.")
    style_strength: float = _option_field(option("style_strength"))[1]
    init_image: Annotated[str | None, NotNull] = Field(
        None, min_length=4, max_length=MAX_PICTURE_BASE64, pattern=BASE64_PATTERN,
        description="Base64 of a PNG to draw over (img2img), or to write into with `box`. Raise the server's "
                    "`http.max_body_bytes` (64 KiB by default) to send pictures.")
    strength: float = _option_field(option("strength"))[1]
    box: Annotated[list[WholeNumber] | None, NotNull] = Field(
        None, min_length=4, max_length=4,
        description="[x, y, width, height] in `init_image`'s pixels: the text is written into this box and every "
                    "pixel outside it is kept.")


class Progress(BaseModel):
    stage: str | None = Field(description="`base` or `sr` while running (`frame` for a tween).")
    step: int | None
    total: int | None


class JobView(BaseModel):
    """A job as its client sees it."""

    id: int
    status: JobStatus
    prompt: str
    negative_prompt: str
    options: JobOptions
    kind: JobKind
    end_prompt: str = Field(description="A tween's last frame's text; empty for `imagine` jobs.")
    frames: int | None = Field(description="A tween's frame count; null for `imagine` jobs.")
    style: str | None
    style_strength: float
    style_image_sha256: str | None = Field(description="The reference picture in the image store, if any.")
    init_image_sha256: str | None
    box: list[int] | None = Field(description="[x, y, width, height] the text was written into, if any.")
    idempotency_key: str | None
    place: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    queue_position: int | None = Field(description="Place in the queue (1 = next to run); null unless queued.")
    eta_seconds: float | None = Field(description="Estimated seconds until the job finishes; null when unknown or done.")
    workers_alive: int | None = Field(description="Workers running now; null unless queued. 0: nobody will run the job until one starts.")
    notice: str | None = Field(description="Why a queued job is not moving (no worker is running); null when there is nothing to say.")
    progress: Progress | None
    error: str | None
    links: dict[str, str] = Field(description="URLs of this job's status, wait, events, images and cancel endpoints.")


class ImageView(BaseModel):
    """One candidate image of a job with what OCR read in it (a tween's frames and its GIF: no reading)."""

    sha256: str
    url: str | None = Field(description="Where the bytes are; null when moderators hid the image.")
    stage: str = Field(description="`base`, `sr`, or a tween's `frame` (PNG) and `gif` (the animation, its winner).")
    seed: int
    width: int
    height: int
    ocr_text: str | None
    ocr_score: float | None = Field(description="Character-trigram similarity of the OCR reading to the prompt, 0..1.")
    chosen: bool
    hidden: bool


class JobImages(BaseModel):
    job_id: int
    status: JobStatus
    winner: ImageView | None
    candidates: list[ImageView] = Field(description="Every candidate of both stages, the winner included.")


class JobList(BaseModel):
    jobs: list[JobView]
    next_before_id: int | None = Field(description="Pass as `before_id` to get the next page; null on the last page.")


class StyleView(BaseModel):
    """A learned style that jobs may name in `style`."""

    name: str
    method: StyleMethod = Field(description="How it was learned: textual inversion's token vectors, or LoRA adapters.")
    creator: str
    created_at: dt.datetime
    steps: int = Field(description="Optimisation steps it was learned with.")
    loss: float = Field(description="Its last training loss.")
    examples: int = Field(description="How many example pictures it was learned from.")


class StyleList(BaseModel):
    styles: list[StyleView] = Field(description="Every style that can be used, by name.")


class ErrorDetail(BaseModel):
    loc: str = Field(description="Where the problem is, e.g. `body.options.candidates`.")
    msg: str


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="Stable machine-readable code.")
    message: str = Field(description="What went wrong, for people.")
    details: list[ErrorDetail] | None = None


# --- path and query parameters -----------------------------------------------------------------------


class JobPath(_Strict):
    job_id: int = Field(ge=1, le=2**63 - 1)


class ImagePath(_Strict):
    sha256: Sha256


class WaitQuery(_Strict):
    timeout: float = Field(30.0, gt=0, le=600, description="Longest wait in seconds (capped by the server's limit).")


class ListQuery(_Strict):
    status: JobStatus | None = None
    limit: int = Field(20, ge=1, le=100)
    before_id: int | None = Field(None, ge=1, le=2**63 - 1)


# --- Tumblr posts --------------------------------------------------------------------------------------

TargetState = Literal[STATES]  # type: ignore[valid-type]  published | queue | draft, the autoresponder's list
PostStatus = Literal[POST_STATUSES]  # type: ignore[valid-type]
# A tag Tumblr keeps as written: something visible, no comma (tags travel comma-separated), no controls.
_TAG_CHAR = r"[^,\u0000-\u0008\u000b-\u001f\u007f-\u009f]"
_TAG_VISIBLE = r"[^,\s\u0000-\u0008\u000b-\u001f\u007f-\u009f]"
TAG_PATTERN = f"^{_TAG_CHAR}*{_TAG_VISIBLE}{_TAG_CHAR}*$"


class NpfBlock(BaseModel):
    """One NPF content block as Tumblr defines it (`text`, `image`, `link`...); fields other than `type`
    and `text` are passed on to Tumblr unchanged. A transcript's lines are `text` blocks."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_not_null_in_schema("text"))

    type: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z_]*$")
    text: Annotated[str | None, NotNull] = Field(None, pattern=OPTIONAL_TEXT_PATTERN,
                                                 description="Required in a `text` block.")


def _post_schema(schema: dict[str, Any]) -> None:
    _exactly_one_of("text", "content")(schema)
    _not_null_in_schema("state")(schema)


class SubmitTumblrPost(_EitherOr):
    """A post for the Tumblr autoresponder: exactly one of `text` (what `glyphbot tumblr submit` reads:
    prose with `=======` image blocks) or `content` (NPF blocks). Each image block becomes a generated
    image whose alt text is the transcript; a malformed block holds the post (as a draft) with the reason."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_post_schema)
    either_or = ("text", "content")

    text: Annotated[str | None, NotNull] = Field(None, pattern=PROMPT_PATTERN,
                                                 description="The post as plain text, one paragraph per line.")
    content: Annotated[list[NpfBlock] | None, NotNull] = Field(None, min_length=1, max_length=1000,
                                                               description="The post as NPF content blocks.")
    tags: list[Annotated[str, Field(max_length=200, pattern=TAG_PATTERN)]] = Field(
        default_factory=list, max_length=30, description="Tags to publish the post with (no commas).")
    state: Annotated[TargetState | None, NotNull] = Field(
        None, description="Where the post goes: published, queue or draft; the server's `tumblr.default_state` when left out.")
    idempotency_key: str = Field(min_length=1, max_length=80, pattern=IDEMPOTENCY_KEY_PATTERN,
                                 description="Required: sending the same key again returns the first post instead of "
                                             "posting twice (409 if the post differs).")


class TumblrImageView(BaseModel):
    """One `=======` block of a post and whether its image is drawn."""

    block: int = Field(description="Index of the image block in the post, from 0.")
    text: str = Field(description="The transcript: the text the image shows, and its alt text.")
    caption: str | None
    ready: bool = Field(description="The image is drawn and stored.")


class TumblrPostView(BaseModel):
    """A post of the autoresponder and where it stands.

    `status`: `pending` (images being drawn), `images_ready` (waiting to be sent; `waiting_reason` and
    `retry_at` say why and until when when a limit or an error holds it back), `publishing` (the request
    is out), `published` (`tumblr_post_id`, `published_state`), or `held`. A post with `held` true is
    not published: it is saved to the blog's drafts as written, and `held_reason` says why."""

    id: int
    status: PostStatus
    held: bool
    held_reason: str | None
    waiting_reason: str | None
    retry_at: dt.datetime | None
    target_state: TargetState
    tags: list[str]
    idempotency_key: str | None = Field(description="Null for posts that did not come from this API.")
    images: list[TumblrImageView]
    tumblr_post_id: int | None
    published_state: str | None = Field(description="Where the post went on Tumblr (a held post: `draft`).")
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None
    links: dict[str, str]


class TumblrPostPath(_Strict):
    post_id: int = Field(ge=1, le=2**63 - 1)
