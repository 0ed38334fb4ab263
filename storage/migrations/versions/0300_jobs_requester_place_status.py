"""Indexes on (source, requester, status) and (source, place, status) of jobs.

Every submission counts the requester's and the place's queued and running jobs for the queue
limits, under the write lock; with only (source, requester_id, id) that count read the whole history
of a requester such as a Tumblr blog (every Tumblr job), so submissions slowed as history grew.

Revision ID: 0300_jobs_status
Revises: 0200_tumblr
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0300_jobs_status"
down_revision = "0200_tumblr"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_requester_status", "jobs", ["source", "requester_id", "status", "id"])
    op.create_index("ix_jobs_place_status", "jobs", ["source", "place", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_place_status", table_name="jobs")
    op.drop_index("ix_jobs_requester_status", table_name="jobs")
