"""`[tumblr] template` and `[generation]`'s defaults reach every job the autoresponder submits."""

from __future__ import annotations

import pytest
import pytumblr

from bot.tumblr.autoresponder import TumblrAutoresponder
from config.settings import SettingsError, TumblrSettings, load_settings
from generation.request_options import configured
from storage.jobs import JobQueue
from tests.bot.tumblr.test_autoresponder import BLOG, POST


async def _run(responder: TumblrAutoresponder, tumblr_client: pytumblr.TumblrRestClient, queue: JobQueue) -> list:
    tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot"], body=POST)
    await responder.ingest_drafts()
    await responder.run_once()
    return queue.list().jobs


async def test_the_template_setting_goes_with_every_job(responder, queue: JobQueue, tumblr_client) -> None:  # noqa: ANN001
    responder.settings = responder.settings.model_copy(update={"template": "sign"})
    jobs = await _run(responder, tumblr_client, queue)
    assert jobs and {job.template for job in jobs} == {"sign"}


async def test_no_template_lets_the_rules_pick(responder, queue: JobQueue, tumblr_client) -> None:  # noqa: ANN001
    jobs = await _run(responder, tumblr_client, queue)
    assert jobs and {job.template for job in jobs} == {None}


async def test_generation_defaults_reach_every_job(responder, queue: JobQueue, tumblr_client) -> None:  # noqa: ANN001
    responder.defaults = configured({"num_inference_steps": 7, "sr_num_inference_steps": 3, "scheduler": "ddim", "candidates": 3})
    responder.settings = responder.settings.model_copy(update={"candidates": None})
    jobs = await _run(responder, tumblr_client, queue)
    assert jobs and {(job.num_inference_steps, job.sr_num_inference_steps, job.scheduler, job.candidates) for job in jobs} == {
        (7, 3, "ddim", 3)}
    assert {job.guidance_scale for job in jobs} == {2.0}  # the post's own guidance draw still wins


def test_the_setting_takes_only_a_template_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TumblrSettings().template == ""
    monkeypatch.setenv("GLYPHBOT_TUMBLR__TEMPLATE", "billboard")
    with pytest.raises(SettingsError, match="tumblr.template"):
        load_settings()
