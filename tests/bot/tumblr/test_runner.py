"""The long-running entry point with the real worker in a thread, and where credentials come from."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
import pytumblr
from pydantic import SecretStr

from bot.tumblr import run_tumblr_autoresponder
from bot.tumblr.autoresponder import record_post
from bot.tumblr.client import TumblrCredentialsMissing, client_from_settings
from bot.tumblr.content import text_to_blocks
from bot.worker import Worker, WorkerOptions
from config.settings import TumblrSettings
from storage.async_api import AsyncJobs
from storage.jobs import JobQueue
from tests.bot.tumblr.conftest import DrawingRenderer
from tests.bot.tumblr.fake_tumblr import FakeTumblr
from tests.bot.tumblr.test_autoresponder import BLOG, POST


async def serve_until(done: Callable[[], bool], settings: TumblrSettings, queue: JobQueue,
                      client: pytumblr.TumblrRestClient) -> None:
    """Run the serve loop (intake every 0.2 s) and a real worker thread until `done()`, at most 20 s."""
    worker = Worker(queue, DrawingRenderer(), WorkerOptions(poll_interval_s=0.05))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    stop = asyncio.Event()
    task = asyncio.create_task(run_tumblr_autoresponder(
        settings.model_copy(update={"poll_interval_s": 0.2}), AsyncJobs(queue, poll_initial_s=0.01, poll_max_s=0.05),
        client=client, stop=stop))
    try:
        deadline = time.monotonic() + 20
        while not done() and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 5)  # raises what ended the loop early, if anything did
    finally:
        worker.stop()
        thread.join(5)


async def test_serve_loop_publishes_drafts_and_survives_an_outage(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, tumblr_settings: TumblrSettings,
        queue: JobQueue) -> None:
    fake_tumblr.fail_next("GET", r"/posts/draft$", 503)  # the first look at the drafts fails
    draft = tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot"], body=POST)
    await serve_until(lambda: fake_tumblr.post_by_genesis(draft["id"]).state == "published", tumblr_settings, queue,
                      tumblr_client)
    assert fake_tumblr.faults == []  # the outage did happen, and the loop carried on
    assert fake_tumblr.post_by_genesis(draft["id"]).state == "published"
    assert sum(b["type"] == "image" for b in fake_tumblr.post_by_genesis(draft["id"]).content) == 2


async def test_posts_already_taken_are_published_while_the_drafts_cannot_be_read(
        fake_tumblr: FakeTumblr, tumblr_settings: TumblrSettings, tumblr_client: pytumblr.TumblrRestClient,
        queue: JobQueue) -> None:
    fake_tumblr.fail_next("GET", r"/posts/draft$", 503, times=10_000)  # the draft listing is down throughout
    record_post(queue.db, tumblr_settings, BLOG, "local:while-down", text_to_blocks(POST), [], "published")
    await serve_until(lambda: bool(fake_tumblr.posts_in("published")), tumblr_settings, queue, tumblr_client)
    assert len(fake_tumblr.posts_in("published")) == 1


def test_credentials_come_from_secrets_and_are_never_echoed(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    secrets = dict(consumer_key=SecretStr("ck-123"), consumer_secret=SecretStr("cs-456"),
                   oauth_token=SecretStr("ot-789"), oauth_secret=SecretStr("os-000"))
    client = client_from_settings(TumblrSettings(blog="b", api_host="http://127.0.0.1:9", **secrets))
    assert client.request.host == "http://127.0.0.1:9" and client.request.consumer_key == "ck-123"
    with pytest.raises(TumblrCredentialsMissing) as missing:
        client_from_settings(TumblrSettings(blog="b", consumer_key=SecretStr("ck-123")))
    assert "GLYPHBOT_TUMBLR__CONSUMER_SECRET" in str(missing.value) and "ck-123" not in str(missing.value)
    outside = tmp_path / "tumblr.json"
    outside.write_text('{"consumer_key": "a", "consumer_secret": "b", "oauth_token": "c", "oauth_secret": "d"}')
    assert client_from_settings(TumblrSettings(blog="b", credentials_file=outside)).request.consumer_key == "a"
    outside.write_text('consumer_key = "s3cret"')
    with pytest.raises(TumblrCredentialsMissing, match="not a JSON object") as broken:
        client_from_settings(TumblrSettings(blog="b", credentials_file=outside))
    assert "s3cret" not in str(broken.value)


async def test_serve_refuses_to_start_without_a_blog(queue: JobQueue) -> None:
    with pytest.raises(ValueError, match="tumblr.blog"):
        await run_tumblr_autoresponder(TumblrSettings(), AsyncJobs(queue))
