"""The template a job's picture is drawn as (a tweet, a sign, a meme...), when the requester pinned one.

Written out in full, like 0001, so this revision keeps its meaning when the models change. Jobs
queued before it have none: rules pick the template from the text's shape, as they did then.

Revision ID: 0700_jobs_template
Revises: 0600_styles_tweens_boxes
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0700_jobs_template"
down_revision = "0600_styles_tweens_boxes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("template", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("template")
