"""HTTP side: API keys (hashed), moderator accounts (argon2) and moderator sessions.

Owned by bot/http (models in bot/http/models.py). Written out in full, like 0001, so this revision
keeps its meaning when the models change. Timestamps are naive UTC (see storage.models.UTCDateTime).

Revision ID: 0100_http
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0100_http"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "http_api_keys",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("rate_per_minute", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_http_api_keys_client", "http_api_keys", ["client"])
    op.create_table(
        "http_moderators",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "http_sessions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("moderator_id", Id, sa.ForeignKey("http_moderators.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_http_sessions_expires", "http_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_http_sessions_expires", table_name="http_sessions")
    op.drop_table("http_sessions")
    op.drop_table("http_moderators")
    op.drop_index("ix_http_api_keys_client", table_name="http_api_keys")
    op.drop_table("http_api_keys")
