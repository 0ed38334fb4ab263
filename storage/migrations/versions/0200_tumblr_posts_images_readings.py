"""Tumblr side: the per-post publishing state machine, its image blocks, and the OCR reading cache.

Owned by bot/tumblr (models in bot/tumblr/models.py). Written out in full, like 0001, so this
revision keeps its meaning when the models change. Timestamps are naive UTC (storage.models.UTCDateTime).

Revision ID: 0200_tumblr
Revises: 0100_http
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0200_tumblr"
down_revision = "0100_http"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tumblr_posts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("post_key", sa.String(200), nullable=False, unique=True),
        sa.Column("blog", sa.String(200), nullable=False),
        sa.Column("source_post_id", sa.BigInteger(), nullable=True),
        sa.Column("content_json", sa.Text(), nullable=False),
        sa.Column("tags_json", sa.Text(), nullable=False),
        sa.Column("target_state", sa.String(16), nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("guidance_scale", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("held_reason", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("retry_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("image_count", sa.Integer(), nullable=False),
        sa.Column("tumblr_post_id", sa.BigInteger(), nullable=True),
        sa.Column("published_state", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_tumblr_posts_status_retry", "tumblr_posts", ["status", "retry_at"])
    op.create_index("ix_tumblr_posts_published_at", "tumblr_posts", ["published_at"])
    op.create_table(
        "tumblr_images",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("post_id", Id, sa.ForeignKey("tumblr_posts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("block_index", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("guidance_scale", sa.Float(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("image_sha256", sa.String(64), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.UniqueConstraint("post_id", "block_index", name="uq_tumblr_images_post_block"),
    )
    op.create_table(
        "tumblr_readings",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(1000), nullable=False, unique=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_tumblr_readings_sha256", "tumblr_readings", ["sha256"])


def downgrade() -> None:
    op.drop_table("tumblr_readings")
    op.drop_table("tumblr_images")
    op.drop_index("ix_tumblr_posts_published_at", table_name="tumblr_posts")
    op.drop_index("ix_tumblr_posts_status_retry", table_name="tumblr_posts")
    op.drop_table("tumblr_posts")
