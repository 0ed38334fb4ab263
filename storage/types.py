"""Plain records that storage hands to adapters and the worker, detached from any database session.

Adapters never see ORM rows: a row outlives its session badly (lazy loads after commit), and a
frozen snapshot says clearly that changing it changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from generation.request_options import request_values
from generation.request_parsers import parse_box
from generation.types import Box, RenderRequest

SOURCES = ("discord", "tumblr", "http", "cli")
# Plain tuples, free of SQLAlchemy, so commands can offer them as choices without loading the ORM.
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")
# What every front end says about a queued job while no worker runs: the CLI, the HTTP job view, Discord.
NO_WORKER = "no worker is running, so the job waits in the queue until one starts (`glyphbot worker` or `glyphbot serve`)"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class JobSubmission:
    """A request to queue: what to render, who asked, where, and the key that makes a retry harmless.

    `idempotency_key` must be unique per real-world request: the Discord interaction id, the Tumblr
    post id plus block index, an HTTP client's key. Submitting the same key twice returns the first job.
    `priority`: lower runs sooner (0 by default, negative for urgent work), like Unix nice.
    """

    request: RenderRequest
    source: str
    requester_id: str
    requester_name: str = ""
    place: str = ""
    idempotency_key: str | None = None
    priority: int = 0


@dataclass(frozen=True)
class Job:
    """A snapshot of one job row."""

    id: int
    status: str
    source: str
    requester_id: str
    requester_name: str
    place: str
    idempotency_key: str | None
    prompt: str
    negative_prompt: str
    guidance_scale: float
    sr_guidance_scale: float
    num_inference_steps: int
    sr_num_inference_steps: int
    scheduler: str
    seed: int | None
    candidates: int
    init_image_hash: str | None
    strength: float
    layout: str
    font: str | None
    align: str | None
    template: str | None
    kind: str
    end_prompt: str
    frames: int | None
    style: str | None
    style_image_hash: str | None
    style_strength: float
    box: str | None  # "x,y,w,h" as stored; `box_tuple` for the numbers
    batch_key: str
    priority: int
    attempts: int
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    worker_id: str | None
    lease_expires_at: dt.datetime | None
    progress_stage: str | None
    progress_step: int | None
    progress_total: int | None
    preview_hash: str | None

    @property
    def done(self) -> bool:
        """True once the job reached a final status (succeeded, failed or cancelled)."""
        return self.status in ("succeeded", "failed", "cancelled")

    @property
    def box_tuple(self) -> Box | None:
        """The box as (x, y, width, height), or None when the job writes into no box."""
        return parse_box(self.box) if self.box else None

    def render_request(
        self, init_image_png: bytes | None = None, *, style_image_png: bytes | None = None, style_tokens: bytes | None = None
    ) -> RenderRequest:
        """The generation request this job stands for; the worker passes the bytes kept elsewhere in (the
        init and reference pictures from the image store, the style's embeddings from the style store)."""
        return RenderRequest(
            prompt=self.prompt, init_image_png=init_image_png, style_image_png=style_image_png, style_tokens=style_tokens,
            **request_values(self),
        )


@dataclass(frozen=True)
class StyleRecord:
    """One learned style as its row says (`storage.styles.StyleStore`); its embeddings are read with
    `StyleStore.tokens(name)`. `deleted_at`/`deleted_by` are set only for a style a moderator deleted."""

    id: int
    name: str
    creator: str
    created_at: dt.datetime
    example_hashes: tuple[str, ...]
    steps: int
    loss: float
    model_hash: str
    tokens_sha256: str
    deleted_at: dt.datetime | None = None
    deleted_by: str | None = None
    method: str = "vectors"  # how it was learned: generation.types.STYLE_METHODS

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class StoredImage:
    """One candidate image of a job; read its bytes with `ImageStore.read(image.sha256)`."""

    id: int
    job_id: int
    stage: str
    seed: int
    sha256: str
    byte_size: int
    width: int
    height: int
    ocr_text: str | None
    ocr_score: float | None
    chosen: bool
    hidden: bool


@dataclass(frozen=True)
class JobFilter:
    """What a history page shows; every field left None matches everything."""

    status: Sequence[str] | None = None
    source: str | None = None
    requester_id: str | None = None
    place: str | None = None
    prompt_contains: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class JobPage:
    """One page of history, newest first; pass `next_before_id` back to get the following page."""

    jobs: list[Job]
    next_before_id: int | None


@dataclass(frozen=True)
class QueueLimits:
    """Policy applied at submission. Counts include queued and running jobs."""

    per_requester: int = 3
    per_place: int = 20
    max_prompt_chars: int = 380
    max_candidates: int = 8

    @classmethod
    def from_settings(cls, settings: Any) -> "QueueLimits":
        """The limits glyphbot's settings give (`[limits]` and `[generation] max_candidates`); the
        defaults when there are none. One place for every adapter and the CLI's own checks."""
        limits, generation = getattr(settings, "limits", None), getattr(settings, "generation", None)
        if limits is None or generation is None:
            return cls()
        return cls(per_requester=limits.per_requester, per_place=limits.per_place,
                   max_prompt_chars=limits.max_prompt_chars, max_candidates=generation.max_candidates)


@dataclass(frozen=True)
class JobUpdate:
    """What `watch` yields whenever something a user would see changed."""

    job: Job
    position: int | None = None
    eta: dt.timedelta | None = None
    changed: tuple[str, ...] = field(default=())
    # Running workers, counted while the job is queued (None otherwise): 0 means nobody will take it.
    workers: int | None = None
