"""A post submitted over the JSON API is published by the real autoresponder: real pytumblr against the
loopback Tumblr, the real worker loop drawing its images, on SQLite and PostgreSQL. The Tumblr tests'
fixtures are reused on this test's database and image store."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from bot.tumblr.autoresponder import TumblrAutoresponder
from config.settings import TumblrSettings
from storage.db import Database
from storage.jobs import JobQueue
from tests.bot.http.test_tumblr_posts import send, view
from tests.bot.tumblr.conftest import clock, fake_tumblr, queue, responder, tumblr_client, tumblr_settings  # noqa: F401
from tests.bot.tumblr.fake_tumblr import FakeTumblr
from tests.bot.tumblr.test_autoresponder import POST, assert_images_match_transcripts, settle


@pytest.fixture
def database(db: Database) -> Database:
    """The Tumblr fixtures' database (their `queue` and `responder`) is the API's; `queue` also shares the
    image store, since both sit in tmp_path/images."""
    return db


@pytest.fixture
def tumblr_config(tumblr_settings: TumblrSettings) -> TumblrSettings:  # noqa: F811
    return tumblr_settings  # the API records posts for the fake blog the responder publishes to


async def test_an_api_post_is_published_by_the_autoresponder(
        client: TestClient, keys: dict, responder: TumblrAutoresponder, queue: JobQueue,  # noqa: F811
        fake_tumblr: FakeTumblr) -> None:  # noqa: F811
    _, stored = await send(client, keys["alpha"], text=POST, tags=["art"], state="published", idempotency_key="e2e")
    await settle(responder, queue)
    status, done = await view(client, keys["alpha"], stored["id"])
    assert status == 200 and done["status"] == "published", done
    assert done["published_state"] == "published" and all(image["ready"] for image in done["images"])
    post = fake_tumblr.posts[done["tumblr_post_id"]]
    assert post.state == "published" and post.tags == ["art", "guidance scale 2"]
    assert_images_match_transcripts(fake_tumblr, post.id, ["OPEN\nLATE", "a shop sign\nSALE"])
    # the client retrying its request after publication still gets the same post, and nothing is sent again
    status, again = await send(client, keys["alpha"], text=POST, tags=["art"], state="published", idempotency_key="e2e")
    assert status == 200 and again == done and len(fake_tumblr.posts) == 1


async def test_a_waiting_post_shows_why_and_until_when(
        client: TestClient, keys: dict, responder: TumblrAutoresponder, queue: JobQueue,  # noqa: F811
        fake_tumblr: FakeTumblr) -> None:  # noqa: F811
    fake_tumblr.fail_next("POST", r"/posts$", 429, headers={"Retry-After": "120"})
    _, stored = await send(client, keys["alpha"], text="=======\nLATER\n=======", idempotency_key="waits")
    await settle(responder, queue, rounds=2)
    status, waiting = await view(client, keys["alpha"], stored["id"])
    assert status == 200 and waiting["status"] == "images_ready" and waiting["held"] is False
    assert "429" in waiting["waiting_reason"] and waiting["retry_at"] is not None and waiting["tumblr_post_id"] is None
