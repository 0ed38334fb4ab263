"""Tables of the Tumblr adapter, on storage's declarative Base so Alembic migrates them with the rest.

`tumblr_posts` is the per-post state machine that makes publishing crash-safe:

    pending ──(every block's job succeeded)──> images_ready ──(request sent)──> publishing ──> published
       │                                            │   ▲                          │
       └──(malformed transcript / job failed)──> held (in drafts, with the reason) ◄┘ (refused for good)

`publishing` is written and committed *before* the request goes out. A row found in `publishing`
after a crash means "the post may or may not exist on Tumblr": the adapter looks for it by its slug
before sending again, so it is neither lost nor posted twice. While a limit or an error makes a post
wait, `retry_at` and `reason` say until when and why, for moderators. A blog draft that people
deleted, edited, untagged, queued or published by hand meanwhile goes straight to `held` from
`images_ready` or `publishing`: nothing is sent, and `held_reason` says what changed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models import Base, IdType, UTCDateTime

POST_STATUSES = ("pending", "images_ready", "publishing", "published", "held")
OPEN_STATUSES = ("pending", "images_ready", "publishing")


class TumblrPostRow(Base):
    """One post the autoresponder turns from transcripts into images and publishes."""

    __tablename__ = "tumblr_posts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # "draft:<tumblr id>:<digest of text and tags>" for blog drafts (see autoresponder.draft_key),
    # "local:<name>" for folder/CLI input, "http:<id>" for the API.
    post_key: Mapped[str] = mapped_column(String(200), unique=True)
    blog: Mapped[str] = mapped_column(String(200))
    # The Tumblr draft this post came from: it is edited in place (one idempotent request).
    source_post_id: Mapped[int | None] = mapped_column(BigInteger)
    content_json: Mapped[str] = mapped_column(Text)  # the author's NPF blocks, as received
    tags_json: Mapped[str] = mapped_column(Text)
    target_state: Mapped[str] = mapped_column(String(16))  # published | queue | draft
    slug: Mapped[str] = mapped_column(String(64))  # our marker for finding the post after a crash
    guidance_scale: Mapped[float] = mapped_column(Float)

    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Set when the post must not be published (malformed transcript, refused image, surviving
    # delimiter): it is then saved to drafts as the author wrote it, and this says why.
    held_reason: Mapped[str | None] = mapped_column(Text)
    # Why the post is waiting right now (a limit, an error); cleared when it moves on.
    reason: Mapped[str | None] = mapped_column(Text)
    retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    image_count: Mapped[int] = mapped_column(Integer, default=0)
    tumblr_post_id: Mapped[int | None] = mapped_column(BigInteger)
    published_state: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    images: Mapped[list[TumblrImageRow]] = relationship(
        back_populates="post", order_by="TumblrImageRow.block_index", cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_tumblr_posts_status_retry", "status", "retry_at"),
        Index("ix_tumblr_posts_published_at", "published_at"),
    )


class TumblrImageRow(Base):
    """One transcript block of a post and the job that draws it (idempotency key: post key + block index)."""

    __tablename__ = "tumblr_images"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("tumblr_posts.id", ondelete="CASCADE"))
    block_index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    caption: Mapped[str | None] = mapped_column(Text)
    guidance_scale: Mapped[float] = mapped_column(Float)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)

    post: Mapped[TumblrPostRow] = relationship(back_populates="images")

    __table_args__ = (UniqueConstraint("post_id", "block_index", name="uq_tumblr_images_post_block"),)


class TumblrReadingRow(Base):
    """The OCR transcript of an image the bot read, so each image is read once.

    Looked up by URL first (no download at all), then by content hash (the same picture reblogged
    under another URL).
    """

    __tablename__ = "tumblr_readings"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(1000), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    transcript: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
