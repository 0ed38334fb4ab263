"""The job queue's contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading

import pytest

from generation.types import Progress, RenderedImage, RenderResult
from storage.errors import (
    BlockedTermFound,
    InvalidJob,
    JobNotFound,
    LeaseLost,
    QueueLimitReached,
    RequesterBanned,
)
from storage.jobs import JobQueue
from storage.moderation import Moderation
from storage.types import JobFilter, QueueLimits
from tests.hostile_pictures import good_png

from .fixtures import submission


def result(prompt: str = "HELLO", candidates: int = 2) -> RenderResult:
    base = [RenderedImage("base", i, f"base-{prompt}-{i}".encode(), 64, 64) for i in range(candidates)]
    sr = RenderedImage("sr", 0, f"sr-{prompt}".encode(), 256, 256, prompt, 0.97, True)
    return RenderResult(images=base + [sr])


class Clock:
    """A clock the test moves by hand, to expire leases without sleeping."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def test_submit_then_get_round_trips_every_parameter(queue: JobQueue) -> None:
    job = queue.submit(submission("HELLO\nWORLD", negative_prompt="blur", guidance_scale=3.5, seed=7, candidates=2))
    again = queue.get(job.id)
    assert again == job
    assert (again.status, again.attempts, again.prompt, again.seed) == ("queued", 0, "HELLO\nWORLD", 7)
    request = again.render_request()
    assert (request.negative_prompt, request.guidance_scale, request.candidates) == ("blur", 3.5, 2)


def test_same_idempotency_key_returns_the_existing_job(queue: JobQueue) -> None:
    first = queue.submit(submission("A", key="discord:1"))
    second = queue.submit(submission("B", key="discord:1"))
    assert second.id == first.id and second.prompt == "A"
    assert len(queue.list().jobs) == 1


def test_concurrent_submissions_with_one_key_make_one_job(queue: JobQueue) -> None:
    ids: list[int] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        ids.append(queue.submit(submission("RACE", key="tumblr:99:0")).id)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert len(queue.list().jobs) == 1


@pytest.mark.parametrize(
    ("prompt", "options", "message"),
    [
        ("   ", {}, "prompt is empty"),
        ("x" * 381, {}, "381 characters; the limit is 380"),
        ("bad\x00byte", {}, "U+0000 at position 4"),
        ("ok", {"candidates": 9}, "candidates 9 is outside 1..8"),
        ("ok", {"guidance_scale": float("nan")}, "guidance scale must be a finite number"),
        ("ok", {"num_inference_steps": 0}, "inference steps 0 is outside"),
        ("ok", {"scheduler": "../etc"}, "scheduler '../etc' is not one of ddpm, ddim, dpmsolver"),
        ("ok", {"scheduler": "euler"}, "scheduler 'euler' is not one of ddpm, ddim, dpmsolver"),
        ("ok", {"init_image_png": b"GIF89a"}, "not a PNG"),
    ],
)
def test_bad_submissions_fail_clearly_and_queue_nothing(queue: JobQueue, prompt: str, options: dict, message: str) -> None:
    with pytest.raises(InvalidJob, match=re.escape(message)):
        queue.submit(submission(prompt, **options))
    assert queue.list().jobs == []


def test_queue_limits_per_requester_and_per_place(db, store) -> None:  # noqa: ANN001
    queue = JobQueue(db, store, QueueLimits(per_requester=2, per_place=3))
    queue.submit(submission(requester="a", place="chan"))
    queue.submit(submission(requester="a", place="chan"))
    with pytest.raises(QueueLimitReached, match="you already have 2 jobs waiting"):
        queue.submit(submission(requester="a", place="chan"))
    queue.submit(submission(requester="b", place="chan"))
    with pytest.raises(QueueLimitReached, match="this place already has 3"):
        queue.submit(submission(requester="c", place="chan"))
    # Finished jobs no longer count.
    finished = queue.list().jobs[-1]
    queue.cancel(finished.id)
    queue.submit(submission(requester="a", place="chan"))


def test_bans_and_blocked_terms_refuse_submissions(queue: JobQueue, db) -> None:  # noqa: ANN001
    moderation = Moderation(db)
    ban = moderation.ban("user", "cli", "troll", moderator="mod", reason="spam")
    with pytest.raises(RequesterBanned, match="you are banned.*spam"):
        queue.submit(submission(requester="troll"))
    moderation.ban("place", "cli", "badplace", moderator="mod")
    with pytest.raises(RequesterBanned, match="this place is banned"):
        queue.submit(submission(requester="someone", place="badplace"))
    moderation.lift_ban(ban.id, moderator="mod")
    queue.submit(submission(requester="troll"))
    moderation.block_term("Forbidden", moderator="mod")
    with pytest.raises(BlockedTermFound):
        queue.submit(submission("some FORBIDDEN words"))
    with pytest.raises(BlockedTermFound):
        queue.submit(submission("fine", negative_prompt="forbidden"))


def test_claim_takes_priority_then_age_and_batches_compatible_jobs(queue: JobQueue) -> None:
    a = queue.submit(submission("A"))
    odd = queue.submit(submission("ODD", num_inference_steps=10))
    b = queue.submit(submission("B"))
    urgent = queue.submit(dataclasses.replace(submission("URGENT", num_inference_steps=10), priority=-1))
    claimed = queue.claim("w1", lease_s=60, max_batch=4)
    assert [job.id for job in claimed] == [urgent.id, odd.id]
    assert all(job.status == "running" and job.worker_id == "w1" and job.attempts == 1 for job in claimed)
    assert [job.id for job in queue.claim("w2", lease_s=60, max_batch=4)] == [a.id, b.id]
    assert queue.claim("w3", lease_s=60, max_batch=4) == []


def test_claiming_one_named_job_leaves_older_ones_queued(queue: JobQueue) -> None:
    older = queue.submit(submission("OLDER"))
    mine = queue.submit(submission("MINE"))
    (claimed,) = queue.claim("cli", lease_s=30, max_batch=8, job_id=mine.id)
    assert claimed.id == mine.id and queue.get(older.id).status == "queued"
    assert queue.claim("cli", lease_s=30, job_id=mine.id) == []  # no longer queued


def test_position_and_eta(queue: JobQueue) -> None:
    clock = Clock()
    queue.clock = clock
    jobs = [queue.submit(submission(f"J{i}")) for i in range(4)]
    assert [queue.position(job.id) for job in jobs] == [1, 2, 3, 4]
    assert queue.eta(jobs[0].id) is None  # no history yet
    (first,) = queue.claim("w1", lease_s=60)
    clock.advance(10)
    queue.complete(first.id, "w1", result())
    assert queue.position(first.id) is None
    assert [queue.position(job.id) for job in jobs[1:]] == [1, 2, 3]
    # one worker seen recently, 10 s per job: the third in line finishes after three runs.
    assert queue.eta(jobs[3].id) == dt.timedelta(seconds=30)


def test_complete_stores_every_candidate_and_hides_moderated_ones(queue: JobQueue, store, db) -> None:  # noqa: ANN001
    job = queue.submit(submission())
    queue.claim("w1", lease_s=60)
    done = queue.complete(job.id, "w1", result(candidates=3))
    assert done.status == "succeeded" and done.finished_at is not None and done.error is None
    images = queue.images_of(job.id)
    assert [(i.stage, i.chosen) for i in images] == [("base", False)] * 3 + [("sr", True)]
    assert store.read(images[-1].sha256) == b"sr-HELLO"
    assert images[-1].ocr_text == "HELLO" and images[-1].ocr_score == pytest.approx(0.97)
    Moderation(db).hide_image(images[0].sha256, moderator="mod", reason="nsfw")
    assert [i.id for i in queue.images_of(job.id)] == [i.id for i in images[1:]]
    assert queue.images_of(job.id, include_hidden=True)[0].hidden


def test_progress_and_preview_are_recorded_for_the_owner_only(queue: JobQueue, store) -> None:  # noqa: ANN001
    job = queue.submit(submission())
    queue.claim("w1", lease_s=60)
    assert queue.report_progress(job.id, "w1", Progress("base", 50, 50, b"preview"))
    seen = queue.get(job.id)
    assert (seen.progress_stage, seen.progress_step, seen.progress_total) == ("base", 50, 50)
    assert store.read(seen.preview_hash) == b"preview"
    assert not queue.report_progress(job.id, "intruder", Progress("sr", 1, 25))


def test_expired_lease_goes_back_to_the_queue_then_fails_after_the_retry_limit(queue: JobQueue) -> None:
    clock = Clock()
    queue.clock = clock
    job = queue.submit(submission())
    for attempt in (1, 2):
        (claimed,) = queue.claim(f"w{attempt}", lease_s=30, max_attempts=2)
        assert claimed.attempts == attempt
        clock.advance(31)
    assert queue.claim("w3", lease_s=30, max_attempts=2) == []
    failed = queue.get(job.id)
    assert failed.status == "failed"
    assert failed.error == "gave up after 2 attempts: worker w2 stopped renewing its lease during attempt 2"
    with pytest.raises(LeaseLost):
        queue.complete(job.id, "w2", result())


def test_heartbeat_keeps_the_lease_and_a_taken_over_job_rejects_the_old_worker(queue: JobQueue) -> None:
    clock = Clock()
    queue.clock = clock
    job = queue.submit(submission())
    queue.claim("w1", lease_s=30)
    clock.advance(20)
    assert queue.heartbeat("w1", [job.id], lease_s=30) == {job.id}
    clock.advance(20)
    assert queue.claim("w2", lease_s=30) == []  # renewed: still w1's
    clock.advance(31)
    (taken,) = queue.claim("w2", lease_s=30)
    assert taken.id == job.id and taken.attempts == 2
    assert queue.heartbeat("w1", [job.id], lease_s=30) == set()
    with pytest.raises(LeaseLost):
        queue.complete(job.id, "w1", result("STALE"))
    queue.complete(job.id, "w2", result())
    assert len(queue.images_of(job.id)) == 3  # only w2's result


def test_cancel_queued_and_running_jobs(queue: JobQueue) -> None:
    queued = queue.submit(submission("Q"))
    running = queue.submit(submission("R"))
    queue.claim("w1", lease_s=60)  # takes Q
    assert queue.cancel(queued.id, "changed my mind").status == "cancelled"
    assert queue.get(queued.id).error == "changed my mind"
    assert not queue.report_progress(queued.id, "w1", Progress("base", 1, 50))
    assert queue.heartbeat("w1", [queued.id], lease_s=60) == set()
    with pytest.raises(LeaseLost):
        queue.complete(queued.id, "w1", result())
    assert queue.cancel(running.id).status == "cancelled"
    assert queue.claim("w1", lease_s=60) == []
    with pytest.raises(JobNotFound):
        queue.cancel(999_999)


def test_fail_with_retry_requeues_until_attempts_run_out(queue: JobQueue) -> None:
    job = queue.submit(submission())
    queue.claim("w1", lease_s=60)
    assert queue.fail(job.id, "w1", "flaky", retry=True, max_attempts=2).status == "queued"
    queue.claim("w1", lease_s=60)
    failed = queue.fail(job.id, "w1", "flaky again", retry=True, max_attempts=2)
    assert (failed.status, failed.error, failed.attempts) == ("failed", "flaky again", 2)


def test_release_returns_jobs_without_counting_the_attempt(queue: JobQueue) -> None:
    job = queue.submit(submission())
    queue.claim("w1", lease_s=60)
    queue.release("w1", [job.id])
    again = queue.get(job.id)
    assert (again.status, again.attempts, again.worker_id) == ("queued", 0, None)


def test_history_filters_and_keyset_pages(queue: JobQueue) -> None:
    for i in range(7):
        queue.submit(submission(f"cat {i}" if i % 2 else f"dog {i}", requester=f"u{i % 3}", place="p"))
    page = queue.list(limit=3)
    assert [job.prompt for job in page.jobs] == ["dog 6", "cat 5", "dog 4"]
    rest = queue.list(limit=3, before_id=page.next_before_id)
    last = queue.list(limit=3, before_id=rest.next_before_id)
    assert [job.prompt for job in last.jobs] == ["dog 0"] and last.next_before_id is None
    assert [j.prompt for j in queue.list(JobFilter(prompt_contains="cat", requester_id="u1")).jobs] == ["cat 1"]
    assert queue.list(JobFilter(prompt_contains="%")).jobs == []  # LIKE wildcards are literal
    queue.cancel(queue.list().jobs[0].id)
    assert len(queue.list(JobFilter(status=["cancelled"])).jobs) == 1
    assert len(queue.list(JobFilter(status=["queued"], place="p")).jobs) == 6


def test_init_image_goes_to_the_store_and_back(queue: JobQueue) -> None:
    png = good_png()
    job = queue.submit(submission(init_image_png=png, strength=0.5))
    assert queue.load_init_image(queue.get(job.id)) == png
    other = queue.submit(submission())
    assert job.batch_key != other.batch_key  # img2img never shares a batch with text-only jobs


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite serves one host: one clock
def test_leases_follow_the_database_clock_on_postgresql(queue: JobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two hosts whose clocks disagree by an hour must still agree on when a lease ends."""
    queue.submit(submission())
    queue.claim("w1", lease_s=30)
    skewed = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    monkeypatch.setattr("storage.jobs.utcnow", lambda: skewed)
    assert queue.claim("w2-on-a-fast-clock", lease_s=30) == []


def test_every_sampler_a_job_may_name_is_one_the_pipeline_builds(queue: JobQueue) -> None:
    from generation.request_parsers import SAMPLERS
    from generation.schedulers import sampling_scheduler, training_scheduler

    for name in SAMPLERS:
        assert queue.submit(submission(f"S {name}", scheduler=name)).scheduler == name
        assert sampling_scheduler(name, training_scheduler()) is not None
    with pytest.raises(InvalidJob, match="scheduler 'euler' is not one of ddpm, ddim, dpmsolver"):
        queue.submit(submission("S", scheduler="euler"))


def test_layout_options_are_kept_and_come_back_to_the_worker(queue: JobQueue) -> None:
    job = queue.submit(submission("OPEN", layout="none", font="DejaVuSerif", align="right"))
    request = queue.get(job.id).render_request()
    assert (request.layout, request.font, request.align) == ("none", "DejaVuSerif", "right")
    plain = queue.get(queue.submit(submission("SHUT")).id).render_request()
    assert (plain.layout, plain.font, plain.align) == ("glyph", None, None)


@pytest.mark.parametrize("change, message", [(dict(layout="fancy"), "layout"), (dict(align="justify"), "alignment"),
                                             (dict(font=""), "font is empty")])
def test_bad_layout_options_are_refused_at_submission(queue: JobQueue, change: dict, message: str) -> None:
    with pytest.raises(InvalidJob, match=message):
        queue.submit(submission("OPEN", **change))
