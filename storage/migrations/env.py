"""Alembic environment: runs migrations on the engine that storage.db.Database hands over."""

from __future__ import annotations

from alembic import context

from storage.models import Base

engine = context.config.attributes.get("engine")
if engine is None:
    raise RuntimeError("run migrations through storage.db.Database.upgrade() or `glyphbot db upgrade`")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables when a migration needs it.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
