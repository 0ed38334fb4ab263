"""SQLAlchemy ORM tables. The jobs table is the single source of truth for every request.

Alembic migrations in `storage/migrations/versions/` create these tables; a test checks that the
migrated schema and these models agree, so a change here needs a new migration.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments INTEGER PRIMARY KEY, so ids are BIGINT on PostgreSQL and INTEGER there.
IdType = BigInteger().with_variant(Integer(), "sqlite")



class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC, returns aware UTC: SQLite drops time zones, and mixing both kinds breaks comparisons."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:  # type: ignore[override]
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    """One request for images, from submission to its final status."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    requester_id: Mapped[str] = mapped_column(String(64))
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    place: Mapped[str] = mapped_column(String(200), default="")

    # Generation parameters, mirroring generation.types.RenderRequest.
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    guidance_scale: Mapped[float] = mapped_column(Float)
    sr_guidance_scale: Mapped[float] = mapped_column(Float)
    num_inference_steps: Mapped[int] = mapped_column(Integer)
    sr_num_inference_steps: Mapped[int] = mapped_column(Integer)
    scheduler: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    candidates: Mapped[int] = mapped_column(Integer)
    init_image_hash: Mapped[str | None] = mapped_column(String(64))
    strength: Mapped[float] = mapped_column(Float)
    layout: Mapped[str] = mapped_column(String(16), default="glyph", server_default="glyph")
    font: Mapped[str | None] = mapped_column(String(200))
    align: Mapped[str | None] = mapped_column(String(16))
    # What the picture is drawn as (generation.types.TEMPLATES); None: rules pick from the text's shape.
    template: Mapped[str | None] = mapped_column(String(16))
    # What the job draws (generation.types.JOB_KINDS) and, for a tween, its last frame's text and frame count.
    kind: Mapped[str] = mapped_column(String(16), default="imagine", server_default="imagine")
    end_prompt: Mapped[str] = mapped_column(Text, default="", server_default="")
    frames: Mapped[int | None] = mapped_column(Integer)
    # A learned style by name (StyleRow.name: checked at submission, its embeddings fetched by the worker),
    # a reference picture in the image store, and how strongly either steers the result.
    style: Mapped[str | None] = mapped_column(String(32))
    style_image_hash: Mapped[str | None] = mapped_column(String(64))
    style_strength: Mapped[float] = mapped_column(Float, default=0.5, server_default="0.5")
    # "x,y,w,h" in the init picture's pixels: the text goes into that box, the rest stays as it was.
    box: Mapped[str | None] = mapped_column(String(64))
    # Jobs with equal batch keys share every setting that must match inside one GPU batch.
    batch_key: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)

    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # Progress of the running attempt, written by the worker for adapters' progress edits.
    progress_stage: Mapped[str | None] = mapped_column(String(8))
    progress_step: Mapped[int | None] = mapped_column(Integer)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    preview_hash: Mapped[str | None] = mapped_column(String(64))

    images: Mapped[list[ImageRow]] = relationship(back_populates="job", order_by="ImageRow.id")

    __table_args__ = (
        # claim: the oldest, most urgent queued job; reclaim: expired leases of running jobs.
        Index("ix_jobs_status_priority_id", "status", "priority", "id"),
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
        # queue limits and moderators' history pages filter by requester or place, newest first.
        Index("ix_jobs_requester", "source", "requester_id", "id"),
        Index("ix_jobs_place", "source", "place", "id"),
        Index("ix_jobs_status_finished", "status", "finished_at"),
        # queue limits count one requester's or place's waiting jobs on every submission, and moderators
        # filter them by status: with status in the key neither reads the rest of a long history.
        Index("ix_jobs_requester_status", "source", "requester_id", "status", "id"),
        Index("ix_jobs_place_status", "source", "place", "status", "id"),
    )


class WorkerRow(Base):
    """A running worker, so adapters can tell a user that no worker will pick up their job.

    The worker renews `alive_until` every heartbeat and deletes its row when it stops; the row of a
    worker that was killed simply runs out.
    """

    __tablename__ = "workers"

    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    alive_until: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ImageRow(Base):
    """One candidate image of one stage of a job; the file lives in the image store under `sha256`."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(8))
    seed: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    byte_size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    ocr_text: Mapped[str | None] = mapped_column(Text)
    ocr_score: Mapped[float | None] = mapped_column(Float)
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)

    job: Mapped[JobRow] = relationship(back_populates="images")


class BanRow(Base):
    """A ban of a user or a place on one platform; lifted bans stay for the record."""

    __tablename__ = "bans"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))  # "user" or "place"
    source: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    moderator: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_bans_subject", "kind", "source", "subject"),)


class BlockedTermRow(Base):
    """A term that may not appear in prompts, as the moderator wrote it (matched in folded form, storage.textfold)."""

    __tablename__ = "blocked_terms"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    term: Mapped[str] = mapped_column(String(200), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    moderator: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class HiddenImageRow(Base):
    """An image content hash that moderators hid; hidden by content, so every job that made it hides it."""

    __tablename__ = "hidden_images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    moderator: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class StyleRow(Base):
    """A learned style (textual inversion's vectors or LoRA adapters, `method`): its safetensors file
    lives in `<data_dir>/styles/<name>.safetensors`.

    Deleted styles keep their row (soft delete), so a job asking for one is told who deleted it and when.
    """

    __tablename__ = "styles"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    creator: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    example_hashes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of the examples' sha256
    steps: Mapped[int] = mapped_column(Integer)
    loss: Mapped[float] = mapped_column(Float)
    model_hash: Mapped[str] = mapped_column(String(64))
    tokens_sha256: Mapped[str] = mapped_column(String(64))  # of the safetensors file, checked when it is read
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_by: Mapped[str | None] = mapped_column(String(200))
    # generation.types.STYLE_METHODS; rows from before LoRA adapters are textual inversion ("vectors").
    method: Mapped[str] = mapped_column(String(16), default="vectors", server_default="vectors")


class AuditRow(Base):
    """One moderator action. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    moderator: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
