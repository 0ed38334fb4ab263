"""The template option and `[generation]`'s defaults in the JSON API: `options.template` reaches the job,
an unknown one is refused naming the choices, and options left out are the server's configured ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.http.app import create_app
from bot.http.settings import HttpSettings
from config.settings import GenerationSettings
from storage.db import Database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.types import QueueLimits
from tests.bot.http.test_api import JOBS, submit


async def test_the_template_reaches_the_job_and_comes_back_in_the_view(client: TestClient, keys: dict, db: Database) -> None:
    status, view = await submit(client, keys["alpha"], prompt="JUST SETTING UP", options={"template": "tweet"})
    assert status == 201 and view["options"]["template"] == "tweet"
    assert JobQueue(db).get(view["id"]).render_request().template == "tweet"
    status, plain = await submit(client, keys["alpha"], prompt="PLAIN")
    assert status == 201 and plain["options"]["template"] is None


async def test_an_unknown_template_is_refused_naming_the_choices(client: TestClient, keys: dict, db: Database) -> None:
    status, body = await submit(client, keys["alpha"], prompt="HI", options={"template": "billboard"})
    assert status == 422 and body["details"][0]["loc"] == "body.options.template"
    assert "'card'" in body["details"][0]["msg"] and "'notice'" in body["details"][0]["msg"]
    assert JobQueue(db).list().jobs == []


@pytest.fixture
async def configured_client(db: Database, store: ImageStore, http_config: HttpSettings, limits: QueueLimits) -> AsyncIterator[TestClient]:
    """The API of a server whose `[generation]` defaults differ from the shipped ones."""
    generation = GenerationSettings(num_inference_steps=7, sr_num_inference_steps=3, scheduler="ddim", guidance_scale=3.5,
                                    candidates=2)
    app = create_app(SimpleNamespace(generation=generation), db, images=store, http=http_config, limits=limits, tumblr=None)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def test_options_left_out_are_the_configured_defaults(configured_client: TestClient, keys: dict, db: Database) -> None:
    status, view = await submit(configured_client, keys["alpha"], prompt="HI", options={"num_inference_steps": 9})
    assert status == 201
    job = JobQueue(db).get(view["id"])
    assert (job.num_inference_steps, job.sr_num_inference_steps, job.scheduler, job.guidance_scale, job.candidates) == (
        9, 3, "ddim", 3.5, 2)
    reply = await configured_client.get(f"{JOBS}/{view['id']}", headers=keys["alpha_read"])
    assert (await reply.json())["options"]["scheduler"] == "ddim"
