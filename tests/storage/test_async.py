"""AsyncJobs: adapters await jobs and watch progress without blocking their event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bot.worker import Worker, WorkerOptions
from bot.render.model_free import TextDrawingRenderer
from storage.async_api import AsyncJobs
from storage.errors import InvalidJob
from storage.jobs import JobQueue

from .fixtures import submission


async def test_watch_reports_position_progress_preview_and_the_final_status(queue: JobQueue) -> None:
    jobs = AsyncJobs(queue, poll_initial_s=0.01, poll_max_s=0.05)
    ahead = await jobs.submit(submission("FIRST", num_inference_steps=30))
    mine = await jobs.submit(submission("SECOND", num_inference_steps=30, sr_num_inference_steps=10))
    worker = Worker(queue, TextDrawingRenderer(step_delay_s=0.01), WorkerOptions(lease_s=10, heartbeat_s=1, batch_size=1, poll_interval_s=0.01))
    thread = threading.Thread(target=worker.run, kwargs={"exit_when_idle": True})
    updates = []
    thread.start()
    async for update in jobs.watch(mine.id):
        updates.append(update)
    thread.join()
    assert updates[0].position in (1, 2) and updates[0].changed  # first snapshot names every field
    assert updates[-1].job.status == "succeeded" and updates[-1].position is None
    assert any(u.job.status == "running" and u.job.progress_stage == "base" for u in updates)
    assert any(u.job.preview_hash for u in updates)
    images = await jobs.images_of(mine.id)
    assert (await jobs.read_image(images[-1].sha256)).startswith(b"\x89PNG")
    assert (await jobs.get(ahead.id)).status == "succeeded"


async def test_waiting_never_blocks_the_event_loop(queue: JobQueue) -> None:
    jobs = AsyncJobs(queue, poll_initial_s=0.01, poll_max_s=0.05)
    # The job takes over 3 s (300 steps of 10 ms), so a wait that blocked the loop would stall it that long;
    # the limit below leaves a busy machine a second for scheduling and database hiccups (one took 0.9 s).
    job = await jobs.submit(submission("LOOP", num_inference_steps=300))
    worker = Worker(queue, TextDrawingRenderer(step_delay_s=0.01), WorkerOptions(lease_s=10, heartbeat_s=1, poll_interval_s=0.01))
    thread = threading.Thread(target=worker.run, kwargs={"exit_when_idle": True})
    worst_lag = 0.0

    async def ticker() -> None:
        nonlocal worst_lag
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            worst_lag = max(worst_lag, time.monotonic() - before - 0.005)

    tick = asyncio.create_task(ticker())
    thread.start()
    done = await jobs.wait(job.id, timeout_s=30)
    tick.cancel()
    thread.join()
    assert done.status == "succeeded"
    assert worst_lag < 1.0, f"the event loop stalled for {worst_lag:.3f} s"


async def test_wait_times_out_and_errors_surface(queue: JobQueue) -> None:
    jobs = AsyncJobs(queue, poll_initial_s=0.01, poll_max_s=0.02)
    job = await jobs.submit(submission("NOBODY RUNS ME"))
    with pytest.raises(TimeoutError):
        await jobs.wait(job.id, timeout_s=0.2)
    with pytest.raises(InvalidJob, match="prompt is empty"):
        await jobs.submit(submission(""))
    assert (await jobs.cancel(job.id)).status == "cancelled"
    assert (await jobs.wait(job.id, timeout_s=1)).status == "cancelled"
