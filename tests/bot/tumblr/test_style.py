"""`[tumblr] style`: every image of the autoresponder drawn in one learned style, checked at start."""

from __future__ import annotations

import asyncio

import pytest
import pytumblr

from bot.tumblr import run_tumblr_autoresponder
from config.settings import SettingsError, TumblrSettings, load_settings
from storage.async_api import AsyncJobs
from storage.jobs import JobQueue
from storage.styles import StyleStore
from tests.bot.tumblr.conftest import BOTH_DATABASES
from tests.bot.tumblr.fake_tumblr import FakeTumblr
from tests.bot.tumblr.test_autoresponder import BLOG, POST
from tests.storage.fixtures import EXAMPLES, safetensors_blob


def _styles(queue: JobQueue, tmp_path) -> StyleStore:  # noqa: ANN001
    return StyleStore(queue.db, tmp_path / "styles")


@BOTH_DATABASES
async def test_an_unknown_or_deleted_style_stops_the_autoresponder_at_start(
        queue: JobQueue, tumblr_settings: TumblrSettings, tumblr_client: pytumblr.TumblrRestClient, tmp_path) -> None:  # noqa: ANN001
    jobs = AsyncJobs(queue)
    with pytest.raises(ValueError, match="tumblr.style: there is no style 'neon'"):
        await asyncio.wait_for(run_tumblr_autoresponder(tumblr_settings.model_copy(update={"style": "neon"}), jobs,
                                                        client=tumblr_client), 10)
    styles = _styles(queue, tmp_path)
    styles.add("neon", "alice", EXAMPLES, 10, 0.5, safetensors_blob(), "m")
    styles.delete("neon", "mia")
    with pytest.raises(ValueError, match="tumblr.style: style 'neon' was deleted by mia on"):
        await asyncio.wait_for(run_tumblr_autoresponder(tumblr_settings.model_copy(update={"style": "neon"}), jobs,
                                                        client=tumblr_client), 10)


async def test_the_style_goes_with_every_job_the_autoresponder_submits(
        responder, queue: JobQueue, tumblr_client: pytumblr.TumblrRestClient, fake_tumblr: FakeTumblr, tmp_path) -> None:  # noqa: ANN001
    _styles(queue, tmp_path).add("neon", "alice", EXAMPLES, 10, 0.5, safetensors_blob(), "m")
    responder.settings = responder.settings.model_copy(update={"style": "neon"})
    tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot"], body=POST)
    await responder.ingest_drafts()
    await responder.run_once()
    jobs = queue.list().jobs
    assert jobs and {job.style for job in jobs} == {"neon"}


def test_the_setting_takes_only_a_style_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TumblrSettings().style == ""
    monkeypatch.setenv("GLYPHBOT_TUMBLR__STYLE", "Neon Sign")
    with pytest.raises(SettingsError, match="tumblr.style"):
        load_settings()
