"""Fixtures: the real aiohttp app on real storage (SQLite file and throwaway PostgreSQL), API keys,
a logged-in moderator, and a `finish` helper that plays the worker's part with real PNG files."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image, ImageDraw
from sqlalchemy import text

from bot.http import create_app
from bot.http.accounts import add_moderator, create_api_key
from bot.http.settings import HttpSettings
from config.settings import TumblrSettings
from generation.types import RenderedImage, RenderResult
from storage.db import Database, open_database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.types import QueueLimits
# The storage tests' throwaway-PostgreSQL fixtures (one database per session, dropped at its end).
from tests.storage.fixtures import pg_databases, pg_session_url  # noqa: F401

TABLES = (
    "tumblr_images, tumblr_posts, tumblr_readings, "
    "http_sessions, http_moderators, http_api_keys, styles, workers, audit_log, hidden_images, blocked_terms, bans, images, jobs"
)
PASSWORD = "correct horse battery"


def _sqlite_url(tmp_path) -> str:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'glyphbot.db'}"
    db = open_database(url)
    db.upgrade()
    db.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:  # noqa: ANN001
    """A migrated, empty database: on a SQLite file, then on PostgreSQL."""
    if request.param == "sqlite":
        url = _sqlite_url(tmp_path)
    else:
        url = request.getfixturevalue("pg_session_url")
        with open_database(url).write() as session:
            session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    database = open_database(url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[Database]:  # noqa: ANN001
    """SQLite only, for tests whose subject is not the database (fuzzing, the browser)."""
    database = open_database(_sqlite_url(tmp_path))
    yield database
    database.dispose()


@pytest.fixture
def http_config() -> HttpSettings:
    # Cookies without Secure so the test client (plain http on 127.0.0.1) sends them back.
    return HttpSettings(cookie_secure=False, poll_interval_seconds=0.05, wait_max_seconds=5, rate_limit_burst=1000,
                        rate_limit_per_minute=60000)


@pytest.fixture
def limits() -> QueueLimits:
    return QueueLimits(per_requester=50, per_place=50)


@pytest.fixture
def tumblr_config() -> TumblrSettings | None:
    """The autoresponder's settings the API records posts with (None: not configured, posts answer 503)."""
    return TumblrSettings(blog="glyphbot-test", guidance_options=[2.0], candidates=1)


@pytest.fixture
async def client(db: Database, store: ImageStore, http_config: HttpSettings, limits: QueueLimits,
                 tumblr_config: TumblrSettings | None) -> AsyncIterator[TestClient]:
    app = create_app(None, db, images=store, http=http_config, limits=limits, tumblr=tumblr_config)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def keys(db: Database) -> dict[str, dict[str, str]]:
    """Headers of API keys: client `alpha` (submit+read, and submit-only, read-only), `beta`, and a moderator key."""
    made = {
        "alpha": create_api_key(db, "alpha", ["submit", "read"])[0],
        "alpha_submit": create_api_key(db, "alpha", ["submit"])[0],
        "alpha_read": create_api_key(db, "alpha", ["read"])[0],
        "beta": create_api_key(db, "beta", ["submit", "read"])[0],
        "mod": create_api_key(db, "ops", ["read", "moderate"])[0],
    }
    return {name: bearer(token) for name, token in made.items()}


def png(text_in_image: str, size: int = 64, shade: int = 255) -> bytes:
    """A real PNG with the text drawn in it (distinct bytes per text and shade)."""
    image = Image.new("RGB", (size, size), (shade, shade, shade))
    ImageDraw.Draw(image).text((4, 4), text_in_image, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def finish(db: Database, store: ImageStore, readings: list[str] | None = None, *, winner: int = 0) -> int:
    """Play the worker: claim the oldest queued job and complete it with one base and one SR image per reading."""
    queue = JobQueue(db, store, QueueLimits())
    [job] = queue.claim("test-worker", lease_s=60)
    readings = readings if readings is not None else [job.prompt, job.prompt.lower()]
    images = []
    for index, reading in enumerate(readings):
        images.append(RenderedImage("base", 100 + index, png(f"b{job.id}:{reading}", 32, 200 + index), 32, 32, reading, 0.5))
        score = 1.0 if reading == job.prompt else 0.4
        images.append(RenderedImage("sr", 100 + index, png(f"s{job.id}:{reading}", 64, 200 + index), 64, 64, reading, score,
                                    chosen=index == winner))
    queue.complete(job.id, "test-worker", RenderResult(images))
    return job.id


@pytest.fixture
async def moderator(client: TestClient, db: Database) -> str:
    """Log a moderator named `mia` in on `client`; returns the session's CSRF token for forms."""
    add_moderator(db, "mia", PASSWORD)
    return await log_in(client, "mia", PASSWORD)


async def log_in(client: TestClient, name: str, password: str) -> str:
    page = await (await client.get("/mod/login")).text()
    token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
    reply = await client.post("/mod/login", data={"login_token": token, "name": name, "password": password, "next": "/mod/history"},
                              allow_redirects=False)
    assert reply.status == 303, await reply.text()
    page = await (await client.get("/mod/history")).text()
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
