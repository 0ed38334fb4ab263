"""The database going away and a worker dying mid-job, seen from Discord: nothing is lost, nobody waits silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from generation.types import Progress
from storage.async_api import AsyncJobs
from storage.errors import DatabaseUnavailable, ImageNotFound, ImageStoreError
from storage.types import StoredImage
from tests.bot.discord.conftest import GatedRenderer, abandon_job
from tests.bot.discord.flows import deliver_one, followups, original, result_of

DEFERRALS = {"reroll": 5, "vary": 5, "cands": 5, "cancel": 5, "delete": 6}


async def pending_reply(fake, storage, user) -> tuple[int, int]:
    """Run /imagine with no worker until the reply shows its cancel button; returns (message id, job id)."""
    request = await fake.slash(user, "imagine", {"prompt": "WAITING"})
    message = await fake.wait_until(lambda: (m := original(fake, request)) and m["components"] and m)
    return int(message["id"]), storage.queue.list().jobs[0].id


@pytest.mark.parametrize("action", sorted(DEFERRALS))
async def test_buttons_are_acknowledged_before_the_database_is_asked(fake, storage, start_bot, action):
    """Discord drops an interaction not answered within 3 s; a slow database must not cause that."""
    await start_bot()
    alice = fake.add_user("alice")
    if action == "cancel":  # only a reply still in progress has this button
        message_id, job_id = await pending_reply(fake, storage, alice)
    else:
        storage.start_worker()
        message_id, job_id = await deliver_one(fake, alice)
        storage.stop_workers()
    async with storage.outage():
        click = await fake.click(alice, message_id, f"glyph:{action}:{job_id}")
        answer = await fake.wait_until(lambda: followups(fake, click))
    assert click.callbacks[0]["type"] == DEFERRALS[action]
    assert click.callbacks[0]["at"] < answer[0].at
    assert "database is unavailable right now" in answer[0].json["content"] and answer[0].json["flags"] & 64
    assert not fake.messages[message_id].get("deleted")
    assert len(storage.queue.list().jobs) == 1


async def test_an_outage_delays_a_delivery_and_lookups_say_why(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    request = await fake.slash(alice, "imagine", {"prompt": "PATIENCE"})
    await fake.wait_until(lambda: storage.queue.list().jobs and request.original_message_id)
    async with storage.outage():
        history = await fake.slash(alice, "history")
        # While a thread waits on the locked database, the event loop keeps answering other interactions.
        dm = await fake.slash(alice, "imagine", {"prompt": "HI"}, dm=True)
        refusal = await fake.wait_until(lambda: followups(fake, history))
        assert dm.callbacks and dm.callbacks[0]["at"] < refusal[0].at
        assert "database is unavailable right now" in refusal[0].json["content"]
    storage.start_worker()
    message = await fake.wait_until(lambda: result_of(fake, request))
    assert "PATIENCE" in message["content"] and "seed" in message["content"]


class FailingJobs(AsyncJobs):
    """The real async API, except that `method` raises `error` its first `times` calls: for the moments
    between a job finishing and its result being posted, which no outside action can hit reliably."""

    def __init__(self, jobs: AsyncJobs, method: str, error: Exception, times: int) -> None:
        super().__init__(jobs.queue, poll_initial_s=jobs.poll_initial_s, poll_max_s=jobs.poll_max_s)
        self.failing, self.error, self.times = method, error, times

    def _fail(self, method: str) -> None:
        if method == self.failing and self.times > 0:
            self.times -= 1
            raise self.error

    async def images_of(self, job_id: int, *, include_hidden: bool = False) -> list[StoredImage]:
        self._fail("images_of")
        return await super().images_of(job_id, include_hidden=include_hidden)

    async def read_image(self, sha256: str) -> bytes:
        self._fail("read_image")
        return await super().read_image(sha256)


async def test_an_outage_when_the_result_is_collected_only_delays_it(fake, storage, start_bot, monkeypatch):
    monkeypatch.setattr("bot.discord.delivery.DB_RETRY_S", 0.05)
    jobs = FailingJobs(storage.jobs, "images_of", DatabaseUnavailable("database unavailable: database is locked"), times=2)
    await start_bot(jobs=jobs)
    alice = fake.add_user("alice")
    storage.start_worker()
    request = await fake.slash(alice, "imagine", {"prompt": "STILL COMES"})
    message = await fake.wait_until(lambda: result_of(fake, request))
    assert jobs.times == 0 and "STILL COMES" in message["content"]


async def test_a_result_that_cannot_be_read_is_reported_not_left_hanging(fake, storage, start_bot, settings):
    jobs = FailingJobs(storage.jobs, "images_of", ImageStoreError("image store unreadable"), times=1)
    await start_bot(jobs=jobs)
    alice = fake.add_user("alice")
    storage.start_worker()
    request = await fake.slash(alice, "imagine", {"prompt": "LOST FILE"})
    message = await fake.wait_until(lambda: (m := original(fake, request)) and "could not be delivered" in m["content"] and m)
    assert message["components"] == []  # no cancel button left on a finished request
    await fake.wait_until(lambda: not list(Path(settings.state_dir, "outbox").glob("*.json")))


async def test_a_preview_that_cannot_be_read_is_skipped(fake, storage, start_bot):
    jobs = FailingJobs(storage.jobs, "read_image", ImageNotFound("no image 00ff in the store"), times=1)
    await start_bot(jobs=jobs)
    alice = fake.add_user("alice")
    renderer = GatedRenderer("sr")  # between the stages only the preview can be read
    storage.start_worker(renderer=renderer)
    request = await fake.slash(alice, "imagine", {"prompt": "NO PREVIEW"})
    await fake.wait_until(lambda: jobs.times == 0)
    renderer.gate.set()
    message = await fake.wait_until(lambda: result_of(fake, request))
    assert "NO PREVIEW" in message["content"] and "seed" in message["content"]


async def test_a_job_whose_worker_died_goes_back_to_the_queue_and_is_delivered(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    request = await fake.slash(alice, "imagine", {"prompt": "SECOND TRY", "steps": 6})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    job_id = abandon_job(storage.queue, Progress("base", 2, 6))
    await fake.wait_until(lambda: (m := original(fake, request)) and "step 2/6" in m["content"])
    renderer = GatedRenderer("sr")
    storage.start_worker(renderer=renderer)  # it takes the job over once the dead worker's lease ran out
    # The reply says why the progress started over.
    await fake.wait_until(lambda: "step 6/6 (100%) on attempt 2" in original(fake, request)["content"])
    renderer.gate.set()
    message = await fake.wait_until(lambda: result_of(fake, request))
    assert f"job {job_id}" in message["content"]
    assert (await storage.jobs.get(job_id)).attempts == 2


async def test_a_button_that_fails_unexpectedly_still_answers_the_clicker(fake, storage, start_bot):
    jobs = FailingJobs(storage.jobs, "read_image", ImageNotFound("no image 00ff in the store"), times=0)
    await start_bot(jobs=jobs)
    alice = fake.add_user("alice")
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice)
    jobs.times = 1  # the next image read fails: a file gone from the image store
    click = await fake.click(alice, message_id, f"glyph:cands:{job_id}")
    answer = await fake.wait_until(lambda: followups(fake, click))
    assert "Something went wrong on our side; the error was logged" in answer[0].json["content"]
