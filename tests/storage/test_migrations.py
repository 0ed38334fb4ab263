"""Alembic migrations up and down on both databases; the migrated schema matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from storage.db import SCHEMA_HEADS, open_database
from storage.models import Base
from storage.moderation import Moderation


STORAGE_TABLES = {"jobs", "images", "bans", "blocked_terms", "hidden_images", "audit_log", "workers", "styles"}


def _table_of(difference: tuple | list) -> str:
    """The table an Alembic autogenerate difference is about."""
    if isinstance(difference, list):  # modify_* differences: [(kind, schema, table, column, ...)]
        return difference[0][2]
    kind, subject = difference[0], difference[1]
    if kind.endswith("_table"):
        return subject.name
    if kind.endswith("_column"):
        return difference[2]
    return subject.table.name  # indexes, constraints, foreign keys


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("pg_databases").create()


def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    db = open_database(empty_url)
    db.upgrade()
    assert db.current_revisions() == db.head_revisions()
    assert STORAGE_TABLES <= set(inspect(db.engine).get_table_names())
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    # Adapters keep their own tables (and migration branches); this test checks storage's.
    assert [d for d in differences if _table_of(d) in STORAGE_TABLES] == []
    db.downgrade("base")
    assert db.current_revisions() == set()
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.upgrade()
    assert db.current_revisions() == db.head_revisions()
    db.dispose()


def test_styles_learned_before_0800_are_vectors(empty_url: str) -> None:
    """Every style before LoRA adapters was textual inversion, so 0800 reads the old rows as "vectors"."""
    import datetime as dt

    from storage.styles import find_style

    db = open_database(empty_url)
    db.upgrade("0700_jobs_template")
    with db.write() as session:
        session.execute(text(
            "INSERT INTO styles (name, creator, created_at, example_hashes, steps, loss, model_hash, tokens_sha256) "
            "VALUES ('old', 'alice', :at, '[]', 10, 0.5, 'm', :sha)"), {"at": dt.datetime(2026, 12, 1), "sha": "0" * 64})
    db.upgrade()
    assert find_style(db, "old").method == "vectors"
    db.dispose()


def test_schema_heads_name_the_newest_migrations(tmp_path) -> None:  # noqa: ANN001
    """A new migration must update storage.db.SCHEMA_HEADS, or storage would skip it on open."""
    assert set(SCHEMA_HEADS) == open_database(f"sqlite:///{tmp_path / 'x.db'}").head_revisions()


def test_an_up_to_date_database_opens_without_alembic(tmp_path) -> None:  # noqa: ANN001
    """Every command upgrades on open; a schema already at the heads costs one query, not Alembic's import."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'x.db'}"
    open_database(url).upgrade()
    probe = (f"import sys; from storage.db import open_database; open_database({url!r}).upgrade(); "
             "print('alembic' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_audit_log_is_append_only_in_the_database(db) -> None:  # noqa: ANN001
    Moderation(db).record("alice", "warn", target="discord:user:5", note="first warning")
    for statement in ("UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), db.write() as session:
            session.execute(text(statement))
    assert [entry.action for entry in Moderation(db).audit_log()] == ["warn"]
