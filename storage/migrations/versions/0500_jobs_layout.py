"""Layout options of a job: glyph layout or none, and the font and alignment a user pinned.

Written out in full, like 0001, so this revision keeps its meaning when the models change. Jobs
queued before it get the default layout (each candidate's seed picks font and alignment).

Revision ID: 0500_jobs_layout
Revises: 0400_workers
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0500_jobs_layout"
down_revision = "0400_workers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("layout", sa.String(16), nullable=False, server_default="glyph"))
        batch.add_column(sa.Column("font", sa.String(200), nullable=True))
        batch.add_column(sa.Column("align", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("align")
        batch.drop_column("font")
        batch.drop_column("layout")
