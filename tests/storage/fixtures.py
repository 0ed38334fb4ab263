"""Fixtures: every storage test runs on a SQLite file and on a throwaway PostgreSQL database.

Registered for the whole suite by tests/conftest.py (`pytest_plugins`): the worker, serve and CLI
tests under tests/bot use them too. PostgreSQL is expected at 127.0.0.1:5432 (trust auth, user postgres; `.ci/run` starts it). One
database is created per test session and dropped at its end; each test starts from empty tables.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from generation.types import RenderRequest
from storage.db import Database, open_database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.types import JobSubmission, QueueLimits

PG_HOST = os.environ.get("GLYPHBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
TABLES = "styles, workers, audit_log, hidden_images, blocked_terms, bans, images, jobs"


def _admin_connection():
    import psycopg

    return psycopg.connect(PG_HOST.replace("+psycopg", "") + "/postgres", autocommit=True, connect_timeout=3)


class PostgresDatabases:
    """Creates throwaway databases and drops them all at the end of the session."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def create(self) -> str:
        name = f"glyphbot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with _admin_connection() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"{PG_HOST}/{name}"

    def drop_all(self) -> None:
        with _admin_connection() as connection:
            for name in self.created:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PostgresDatabases]:
    try:
        with _admin_connection():
            pass
    except Exception as error:  # noqa: BLE001  any failure to connect means "no PostgreSQL here"
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error}); start it (see .ci/run)")
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def pg_session_url(pg_databases: PostgresDatabases) -> str:
    url = pg_databases.create()
    db = open_database(url)
    db.upgrade()
    db.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'glyphbot.db'}"
        db = open_database(url)
        db.upgrade()
        db.dispose()
        return url
    url = request.getfixturevalue("pg_session_url")
    db = open_database(url)
    with db.write() as session:
        session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    db.dispose()
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def store(tmp_path) -> ImageStore:  # noqa: ANN001
    return ImageStore(tmp_path / "images")


@pytest.fixture
def queue(db: Database, store: ImageStore) -> JobQueue:
    return JobQueue(db, store, QueueLimits(per_requester=1000, per_place=1000))


def submission(prompt: str = "HELLO", *, key: str | None = None, requester: str = "u1", place: str = "", **request) -> JobSubmission:
    """A CLI submission with defaults; keyword arguments go to RenderRequest."""
    return JobSubmission(
        request=RenderRequest(prompt=prompt, **request),
        source="cli",
        requester_id=requester,
        requester_name="tester",
        place=place,
        idempotency_key=key,
    )


def wait_for(condition, timeout_s: float = 30.0) -> None:  # noqa: ANN001  a zero-argument callable
    """Poll `condition` until true; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.02)


def safetensors_blob(values: int = 4) -> bytes:
    """A real safetensors file (one float32 tensor of `values` zeros), written by hand so no torch is needed."""
    import json
    import struct

    header = json.dumps({"emb": {"dtype": "F32", "shape": [values], "data_offsets": [0, 4 * values]}}).encode()
    return struct.pack("<Q", len(header)) + header + bytes(4 * values)


EXAMPLES = tuple(f"{i:064x}" for i in range(1, 6))


@pytest.fixture
def styles(db: Database, tmp_path):  # noqa: ANN001,ANN201  storage.styles.StyleStore
    from storage.styles import StyleStore

    return StyleStore(db, tmp_path / "styles")


@pytest.fixture
def styled_queue(db: Database, store: ImageStore, styles) -> JobQueue:  # noqa: ANN001
    """A queue that knows the style store, as `open_storage` builds it."""
    return JobQueue(db, store, QueueLimits(per_requester=1000, per_place=1000), styles=styles)


def add_style(styles, name: str = "redsign", *, tokens: bytes | None = None, creator: str = "alice"):  # noqa: ANN001,ANN201
    return styles.add(name, creator, EXAMPLES, 200, 0.125, tokens or safetensors_blob(), "model-abc")


def png_of(width: int, height: int) -> bytes:
    """A real PNG of that size (PIL), for checks that read the picture's header."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()
