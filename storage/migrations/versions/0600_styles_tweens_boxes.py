"""Learned styles, a reference picture, text into a box of a photo, and tweens: their job options and the styles table.

Written out in full, like 0001, so this revision keeps its meaning when the models change. Jobs
queued before it are plain "imagine" jobs with no style, no reference picture and no box.

Revision ID: 0600_styles_tweens_boxes
Revises: 0500_jobs_layout
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0600_styles_tweens_boxes"
down_revision = "0500_jobs_layout"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="imagine"))
        batch.add_column(sa.Column("end_prompt", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("frames", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("style", sa.String(32), nullable=True))
        batch.add_column(sa.Column("style_image_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("style_strength", sa.Float(), nullable=False, server_default="0.5"))
        batch.add_column(sa.Column("box", sa.String(64), nullable=True))
    op.create_table(
        "styles",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("creator", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("example_hashes", sa.Text(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("loss", sa.Float(), nullable=False),
        sa.Column("model_hash", sa.String(64), nullable=False),
        sa.Column("tokens_sha256", sa.String(64), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_by", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("styles")
    with op.batch_alter_table("jobs") as batch:
        for column in ("box", "style_strength", "style_image_hash", "style", "frames", "end_prompt", "kind"):
            batch.drop_column(column)
