"""The queue for asyncio adapters (Discord, HTTP, Tumblr): every database call runs in a thread.

The database drivers block, and a chat bot's event loop must never block (Discord drops a bot that
misses its heartbeats), so each call goes through `asyncio.to_thread`. Completion is awaited by
polling with back-off: cheap, works the same on SQLite and PostgreSQL, and survives restarts of
either side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator

from storage.errors import DatabaseUnavailable
from storage.jobs import JobQueue, backoff_delays
from storage.types import Job, JobFilter, JobPage, JobSubmission, JobUpdate, StoredImage

_WATCHED = ("status", "attempts", "progress_stage", "progress_step", "preview_hash", "error")


class AsyncJobs:
    """Async mirror of the adapter side of JobQueue."""

    def __init__(
        self, queue: JobQueue, *, poll_initial_s: float = 0.1, poll_max_s: float = 2.0, outage_tolerance_s: float = 30.0
    ) -> None:
        self.queue = queue
        self.poll_initial_s = poll_initial_s
        self.poll_max_s = poll_max_s
        self.outage_tolerance_s = outage_tolerance_s

    async def submit(self, submission: JobSubmission) -> Job:
        return await asyncio.to_thread(self.queue.submit, submission)

    async def get(self, job_id: int) -> Job:
        return await asyncio.to_thread(self.queue.get, job_id)

    async def get_by_key(self, idempotency_key: str) -> Job | None:
        return await asyncio.to_thread(self.queue.get_by_key, idempotency_key)

    async def cancel(self, job_id: int, reason: str = "cancelled") -> Job:
        return await asyncio.to_thread(self.queue.cancel, job_id, reason)

    async def position(self, job_id: int) -> int | None:
        return await asyncio.to_thread(self.queue.position, job_id)

    async def eta(self, job_id: int) -> dt.timedelta | None:
        return await asyncio.to_thread(self.queue.eta, job_id)

    async def live_workers(self) -> int:
        return await asyncio.to_thread(self.queue.live_workers)

    async def list(self, filters: JobFilter | None = None, *, limit: int = 50, before_id: int | None = None) -> JobPage:
        return await asyncio.to_thread(self.queue.list, filters, limit=limit, before_id=before_id)

    async def images_of(self, job_id: int, *, include_hidden: bool = False) -> list[StoredImage]:
        return await asyncio.to_thread(self.queue.images_of, job_id, include_hidden=include_hidden)

    async def read_image(self, sha256: str) -> bytes:
        if self.queue.images is None:
            raise LookupError("this queue has no image store")
        return await asyncio.to_thread(self.queue.images.read, sha256)

    async def wait(self, job_id: int, timeout_s: float | None = None) -> Job:
        """The job once it is done. Raises TimeoutError (asyncio's) after `timeout_s`."""
        async with asyncio.timeout(timeout_s):
            async for update in self.watch(job_id):
                if update.job.done:
                    return update.job
        raise AssertionError("watch ended before the job was done")

    async def watch(self, job_id: int) -> AsyncIterator[JobUpdate]:
        """Yield an update first, then whenever status, queue position, progress or preview changed;
        ends after yielding the final status. A database outage shorter than `outage_tolerance_s`
        only delays updates (the job is safe in the queue); a longer one raises DatabaseUnavailable."""
        previous: tuple | None = None
        delays = backoff_delays(self.poll_initial_s, self.poll_max_s)
        outage_since: float | None = None
        while True:
            try:
                update = await asyncio.to_thread(self._snapshot, job_id)
            except DatabaseUnavailable:
                now = time.monotonic()
                outage_since = outage_since or now
                if now - outage_since > self.outage_tolerance_s:
                    raise
                await asyncio.sleep(next(delays))
                continue
            outage_since = None
            key = tuple(getattr(update.job, name) for name in _WATCHED) + (update.position, update.workers)
            if key != previous:
                changed = _changed(previous, key)
                previous = key
                delays = backoff_delays(self.poll_initial_s, self.poll_max_s)  # things move: look again soon
                yield dataclasses.replace(update, changed=changed)
                if update.job.done:
                    return
            await asyncio.sleep(next(delays))

    def _snapshot(self, job_id: int) -> JobUpdate:
        job = self.queue.get(job_id)
        if job.done:
            return JobUpdate(job=job)
        workers = self.queue.live_workers() if job.status == "queued" else None
        return JobUpdate(job=job, position=self.queue.position(job_id), eta=self.queue.eta(job_id), workers=workers)


def _changed(previous: tuple | None, current: tuple) -> tuple[str, ...]:
    names = _WATCHED + ("position", "workers")
    if previous is None:
        return names
    return tuple(name for name, old, new in zip(names, previous, current, strict=True) if old != new)
