"""The workers table: which workers are running, for adapters' "no worker is running" notices.

Written out in full, like 0001, so this revision keeps its meaning when the models change.
Timestamps are naive UTC (storage.models.UTCDateTime).

Revision ID: 0400_workers
Revises: 0300_jobs_status
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0400_workers"
down_revision = "0300_jobs_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.String(200), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("alive_until", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_workers_alive_until", "workers", ["alive_until"])


def downgrade() -> None:
    op.drop_index("ix_workers_alive_until", table_name="workers")
    op.drop_table("workers")
