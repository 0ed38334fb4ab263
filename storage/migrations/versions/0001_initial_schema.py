"""Initial schema: jobs, images, moderation (bans, blocked terms, hidden images) and the audit log.

Written out in full rather than importing storage.models, so this revision keeps meaning what it
meant when later revisions change the models. Timestamps are naive UTC (see models.UTCDateTime).

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The audit log is append-only in the database itself, so no code path (or SQL shell) rewrites history.
AUDIT_GUARD_SQLITE = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
AUDIT_GUARD_POSTGRESQL = [
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("requester_id", sa.String(64), nullable=False),
        sa.Column("requester_name", sa.String(200), nullable=False),
        sa.Column("place", sa.String(200), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("guidance_scale", sa.Float(), nullable=False),
        sa.Column("sr_guidance_scale", sa.Float(), nullable=False),
        sa.Column("num_inference_steps", sa.Integer(), nullable=False),
        sa.Column("sr_num_inference_steps", sa.Integer(), nullable=False),
        sa.Column("scheduler", sa.String(32), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("init_image_hash", sa.String(64), nullable=True),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.Column("batch_key", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("progress_stage", sa.String(8), nullable=True),
        sa.Column("progress_step", sa.Integer(), nullable=True),
        sa.Column("progress_total", sa.Integer(), nullable=True),
        sa.Column("preview_hash", sa.String(64), nullable=True),
    )
    op.create_index("ix_jobs_status_priority_id", "jobs", ["status", "priority", "id"])
    op.create_index("ix_jobs_status_lease", "jobs", ["status", "lease_expires_at"])
    op.create_index("ix_jobs_requester", "jobs", ["source", "requester_id", "id"])
    op.create_index("ix_jobs_place", "jobs", ["source", "place", "id"])
    op.create_index("ix_jobs_status_finished", "jobs", ["status", "finished_at"])

    op.create_table(
        "images",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("job_id", Id, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("ocr_text", sa.Text(), nullable=True),
        sa.Column("ocr_score", sa.Float(), nullable=True),
        sa.Column("chosen", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_images_job_id", "images", ["job_id"])
    op.create_index("ix_images_sha256", "images", ["sha256"])

    op.create_table(
        "bans",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("moderator", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("lifted_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_bans_subject", "bans", ["kind", "source", "subject"])

    op.create_table(
        "blocked_terms",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("term", sa.String(200), nullable=False, unique=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("moderator", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )

    op.create_table(
        "hidden_images",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("moderator", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("moderator", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    guard = AUDIT_GUARD_POSTGRESQL if op.get_bind().dialect.name == "postgresql" else AUDIT_GUARD_SQLITE
    for statement in guard:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("audit_log")
    op.drop_table("hidden_images")
    op.drop_table("blocked_terms")
    op.drop_table("bans")
    op.drop_table("images")
    op.drop_table("jobs")
