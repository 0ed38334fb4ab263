"""Fixtures for the Tumblr adapter tests: the loopback Tumblr server and a real pytumblr client on it."""

from __future__ import annotations

import datetime as dt
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytumblr
from PIL import Image, ImageDraw
from sqlalchemy import inspect, text

from bot.tumblr.autoresponder import TumblrAutoresponder
from bot.tumblr.client import TumblrApi
from config.settings import TumblrSettings
from generation.types import RenderedImage, Renderer, RenderRequest, RenderResult
from storage.async_api import AsyncJobs
from storage.db import Database, open_database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.types import QueueLimits
from tests.bot.tumblr.fake_tumblr import FakeTumblr


@pytest.fixture
def fake_tumblr() -> Iterator[FakeTumblr]:
    with FakeTumblr() as server:
        yield server


@pytest.fixture
def tumblr_client(fake_tumblr: FakeTumblr) -> pytumblr.TumblrRestClient:
    creds = fake_tumblr.credentials
    return pytumblr.TumblrRestClient(creds.consumer_key, creds.consumer_secret, creds.token, creds.token_secret,
                                     host=fake_tumblr.host)


# --------------------------------------------------------------------------- storage and images


def draw_text_png(text: str) -> bytes:
    """The renderer double's picture: the prompt drawn in black on white, sized to the text."""
    lines = text.split("\n") or [""]
    width = max(64, 8 * max(len(line) for line in lines) + 16)
    image = Image.new("RGB", (width, 16 * len(lines) + 16), "white")
    ImageDraw.Draw(image).multiline_text((8, 8), text, fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class DrawingRenderer:
    """A fast stand-in for the cascade: one chosen image with the prompt drawn by PIL."""

    def render(self, request: RenderRequest, progress=None) -> RenderResult:  # noqa: ANN001
        png = draw_text_png(request.prompt)
        width, height = Image.open(io.BytesIO(png)).size
        return RenderResult([RenderedImage("sr", request.seed or 0, png, width, height, request.prompt, 1.0, True)])


class Clock:
    """A settable UTC clock, so day-long limits can be crossed in a test."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


# Tests whose subject is the database (the state machine's compare-and-set claims, the day counts,
# the reading cache) run on PostgreSQL too: decorate them with `@BOTH_DATABASES`. The others use
# SQLite only, which keeps the area fast; their subject is Tumblr, not the SQL dialect.
BOTH_DATABASES = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: a SQLite file, or (under `BOTH_DATABASES`) PostgreSQL as well."""
    if getattr(request, "param", "sqlite") == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'glyphbot.db'}")
        db.upgrade()  # storage's Alembic chain, which includes 0200_tumblr for the adapter's tables
    else:
        db = open_database(request.getfixturevalue("pg_url"))
        tables = [name for name in inspect(db.engine).get_table_names() if name != "alembic_version"]
        with db.write() as session:
            session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    yield db
    db.dispose()


@pytest.fixture
def queue(database: Database, tmp_path: Path) -> JobQueue:
    return JobQueue(database, ImageStore(tmp_path / "images"), QueueLimits(per_requester=50, per_place=50))


def drain_jobs(queue: JobQueue, renderer: Renderer | None = None) -> int:
    """Run the real worker loop with the drawing renderer until the queue is empty; returns jobs handled."""
    from bot.worker import Worker, WorkerOptions

    worker = Worker(queue, renderer or DrawingRenderer(), WorkerOptions(batch_size=8, poll_interval_s=0.01))
    return worker.run(exit_when_idle=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tumblr_settings(fake_tumblr: FakeTumblr) -> TumblrSettings:
    return TumblrSettings(blog=fake_tumblr.blog, api_host=fake_tumblr.host, guidance_options=[2.0], candidates=1)


@pytest.fixture
def responder(database: Database, queue: JobQueue, tumblr_client: pytumblr.TumblrRestClient,
              tumblr_settings: TumblrSettings, clock: Clock, fake_tumblr: FakeTumblr) -> TumblrAutoresponder:
    return TumblrAutoresponder(database, AsyncJobs(queue, poll_initial_s=0.01, poll_max_s=0.05),
                               TumblrApi(tumblr_client, fake_tumblr.blog), tumblr_settings, clock)


PG_SERVER = os.environ.get("GLYPHBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database migrated to head, dropped when the session ends."""
    import psycopg

    admin = PG_SERVER.replace("+psycopg", "") + "/postgres"
    name = f"glyphbot_tumblr_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {PG_SERVER} ({error}); start it (see .ci/run)")
    db = open_database(f"{PG_SERVER}/{name}")
    db.upgrade()
    db.dispose()
    yield f"{PG_SERVER}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
