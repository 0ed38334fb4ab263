"""How a style was learned: textual inversion's token vectors ("vectors") or LoRA adapters ("lora").

Written out in full, like 0001, so this revision keeps its meaning when the models change. Styles
learned before it are all textual inversion: their rows become "vectors".

Revision ID: 0800_styles_method
Revises: 0700_jobs_template
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0800_styles_method"
down_revision = "0700_jobs_template"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("styles") as batch:
        batch.add_column(sa.Column("method", sa.String(16), nullable=False, server_default="vectors"))


def downgrade() -> None:
    with op.batch_alter_table("styles") as batch:
        batch.drop_column("method")
