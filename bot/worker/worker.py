"""The worker loop: claim jobs under a lease, render them, store results, repeat.

One worker per GPU. Several workers on several hosts share one PostgreSQL database; the lease makes
that safe: a heartbeat thread renews it while rendering, and a job whose worker dies goes back to
the queue when the lease runs out. The worker never lets one job's failure (bad input, CUDA OOM,
full disk, database blip) stop it; only its SQLite file being deleted or replaced does
(DatabaseFileChanged), since everything written after that would be lost.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields

from bot.render.batches import BatchRenderer, OutOfMemory, is_out_of_memory, render_jobs
from generation.types import Progress, ProgressCallback, RenderRequest, RenderResult, Renderer
from storage.errors import DatabaseFileChanged, DatabaseUnavailable, ImageStoreError, InvalidJob, LeaseLost, StyleError
from storage.jobs import JobQueue
from storage.types import Job

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL_S = 0.5


class JobDropped(Exception):
    """Raised inside the renderer's progress callback to stop a job that was cancelled or taken over."""


class JobUnrunnable(Exception):
    """What a job needs besides its row cannot be had (a picture gone from the store, a style deleted
    since it was queued); the message is the job's failure reason, and nothing is rendered or stored."""


@dataclass(frozen=True)
class WorkerOptions:
    lease_s: float = 120.0
    heartbeat_s: float = 20.0
    batch_size: int = 4
    max_attempts: int = 3
    poll_interval_s: float = 0.5
    db_retry_max_s: float = 30.0

    @classmethod
    def from_settings(cls, worker_settings) -> WorkerOptions:  # noqa: ANN001  config.settings.WorkerSettings
        """The [worker] settings of the same names (every option here is one)."""
        return cls(**{option.name: getattr(worker_settings, option.name) for option in fields(cls)})


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Pulls jobs from `queue` and renders them with `renderer`."""

    def __init__(self, queue: JobQueue, renderer: Renderer, options: WorkerOptions | None = None, worker_id: str | None = None) -> None:
        self.queue = queue
        self.renderer = renderer
        self.options = options or WorkerOptions()
        self.worker_id = worker_id or new_worker_id()
        self.stop_event = threading.Event()
        self.heartbeat = _Heartbeat(self)

    def run(self, *, max_jobs: int | None = None, exit_when_idle: bool = False) -> int:
        """Work until `stop()` (or `max_jobs` jobs, or an empty queue with `exit_when_idle`); returns jobs handled."""
        handled = 0
        db_delay = self.options.poll_interval_s
        log.info("worker %s started", self.worker_id)
        self.heartbeat.announce()
        file_changed = False
        try:
            while not self.stop_event.is_set() and (max_jobs is None or handled < max_jobs):
                try:
                    count = self.run_once(max_jobs=None if max_jobs is None else max_jobs - handled)
                except DatabaseFileChanged:
                    file_changed = True
                    raise
                except DatabaseUnavailable as error:
                    log.error("worker %s: %s; retrying in %.1f s", self.worker_id, error, db_delay)
                    self.stop_event.wait(db_delay)
                    db_delay = min(self.options.db_retry_max_s, db_delay * 2)
                    continue
                db_delay = self.options.poll_interval_s
                handled += count
                if count == 0:
                    if exit_when_idle:
                        break
                    self.stop_event.wait(self.options.poll_interval_s)
        finally:
            # However the loop ends (a crash included), the worker stops counting as running. On a
            # replaced database file the sign-off would fail like every beat, and log after the last line.
            self.heartbeat.stop()
            if not file_changed:
                self.heartbeat.withdraw()
        log.info("worker %s stopped after %d jobs", self.worker_id, handled)
        return handled

    def stop(self) -> None:
        self.stop_event.set()

    def run_job(self, job_id: int) -> bool:
        """Render exactly this queued job, here and now; False if it was no longer queued."""
        return self.run_once(job_id=job_id) == 1

    def run_once(self, max_jobs: int | None = None, job_id: int | None = None) -> int:
        """Claim one batch of compatible jobs (or just `job_id`) and see each through to a final state;
        returns their number."""
        # A renderer without render_batch would draw a claimed batch one job after another while the
        # rest of it waits, held away from idle workers: it gets one job at a time.
        batch = self.options.batch_size if isinstance(self.renderer, BatchRenderer) else 1
        batch = batch if max_jobs is None else max(1, min(batch, max_jobs))
        jobs = self.queue.claim(
            self.worker_id, lease_s=self.options.lease_s, max_batch=batch, max_attempts=self.options.max_attempts,
            job_id=job_id,
        )
        if not jobs:
            return 0
        log.info("worker %s claimed jobs %s", self.worker_id, [job.id for job in jobs])
        dropped = self.heartbeat.track([job.id for job in jobs])
        try:
            runnable, requests = [], []
            for job in jobs:
                try:
                    requests.append(self._request_of(job))
                    runnable.append(job)
                except JobUnrunnable as error:
                    self._finish_failed(job, str(error))
            callbacks = [self._progress_callback(job, dropped) for job in runnable]
            outcomes = render_jobs(self.renderer, requests, callbacks)
            for job, outcome in zip(runnable, outcomes, strict=True):
                self._finish(job, outcome, dropped)
        finally:
            self.heartbeat.untrack([job.id for job in jobs])
        return len(jobs)

    def _request_of(self, job: Job) -> RenderRequest:
        """The job's request with the bytes kept outside its row: the init and style pictures from the
        image store, the style's embeddings from the style store, fetched now so a style deleted while the
        job waited fails it with who deleted it and when (StyleDeleted's message)."""
        try:
            init_image = self.queue.load_init_image(job)
            style_image = self.queue.load_style_image(job)
            tokens = self.queue.load_style_tokens(job)
        except (StyleError, InvalidJob) as error:  # each says in one line which input and why
            raise JobUnrunnable(str(error)) from error
        return job.render_request(init_image, style_image_png=style_image, style_tokens=tokens)

    # --- one job's end ------------------------------------------------------------------------

    def _finish(self, job: Job, outcome: RenderResult | Exception, dropped: set[int]) -> None:
        if isinstance(outcome, DatabaseFileChanged):  # from a progress report: the job is not to blame
            raise outcome
        if job.id in dropped or isinstance(outcome, JobDropped):
            log.info("job %d was cancelled or taken over; its work is dropped", job.id)
            return
        if isinstance(outcome, Exception):
            self._finish_failed(job, _describe_failure(outcome))
            return
        try:
            self._with_db_retry(lambda: self.queue.complete(job.id, self.worker_id, outcome))
            log.info("job %d succeeded", job.id)
        except LeaseLost:
            log.warning("job %d: lease lost before its result was stored; the result is dropped", job.id)
        except ImageStoreError as error:
            self._finish_failed(job, f"could not store the images: {error}")
        except ValueError as error:
            self._finish_failed(job, f"the renderer returned an unusable result: {error}")

    def _finish_failed(self, job: Job, reason: str) -> None:
        log.warning("job %d failed: %s", job.id, reason)
        try:
            self._with_db_retry(lambda: self.queue.fail(job.id, self.worker_id, reason))
        except LeaseLost:
            log.info("job %d was cancelled or taken over before its failure was stored", job.id)

    def _with_db_retry(self, call: Callable[[], object]) -> object:
        """Retry a final write through a database blip while the lease could still be ours."""
        deadline = time.monotonic() + self.options.lease_s
        delay = 0.2
        while True:
            try:
                return call()
            except DatabaseFileChanged:
                raise
            except DatabaseUnavailable as error:
                if time.monotonic() + delay > deadline:
                    raise
                log.error("worker %s: %s; retrying the write in %.1f s", self.worker_id, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.options.db_retry_max_s)

    def _progress_callback(self, job: Job, dropped: set[int]) -> ProgressCallback:
        last_write = 0.0

        def report(progress: Progress) -> None:
            nonlocal last_write
            if job.id in dropped:
                raise JobDropped(f"job {job.id} was cancelled or taken over")
            now = time.monotonic()
            final_step = progress.step >= progress.total_steps
            if progress.preview_png is None and not final_step and now - last_write < PROGRESS_MIN_INTERVAL_S:
                return
            last_write = now
            try:
                owned = self.queue.report_progress(job.id, self.worker_id, progress)
            except DatabaseFileChanged:
                raise
            except (DatabaseUnavailable, ImageStoreError) as error:
                log.warning("job %d: progress not recorded: %s", job.id, error)
                return
            if not owned:
                dropped.add(job.id)
                raise JobDropped(f"job {job.id} was cancelled or taken over")

        return report


class _Heartbeat:
    """One thread per worker renewing the leases of the jobs in hand every heartbeat_s, and, for a
    worker that serves the queue (`announce`), its entry among the running workers.

    Jobs the worker no longer owns (cancelled, or taken over after a missed lease) go into the
    `dropped` set that `track` returned, which the progress callbacks check. The presence is renewed
    from this thread, not the claim loop, so a worker stays counted through a render of any length.
    """

    # A presence outlives two missed beats, so one slow database write does not hide a live worker.
    PRESENCE_BEATS = 3

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.lock = threading.Lock()
        self.tracked: dict[int, set[int]] = {}
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        self.present = False

    def announce(self) -> None:
        """Count this worker as running from now until `withdraw` (adapters stop saying "no worker")."""
        self.present = True
        self._start()

    def withdraw(self) -> None:
        if not self.present:
            return
        self.present = False
        try:
            self.worker.queue.worker_gone(self.worker.worker_id)
        except DatabaseUnavailable as error:  # the row runs out by itself
            log.error("worker %s: could not sign off: %s", self.worker.worker_id, error)

    def track(self, job_ids: list[int]) -> set[int]:
        dropped: set[int] = set()
        with self.lock:
            for job_id in job_ids:
                self.tracked[job_id] = dropped
        self._start()
        return dropped

    def _start(self) -> None:
        with self.lock:
            if self.thread is None:
                self.done.clear()
                self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.worker.worker_id}", daemon=True)
                self.thread.start()

    def untrack(self, job_ids: list[int]) -> None:
        """Stop beating for these jobs; with none left and no presence to renew, the thread ends too."""
        with self.lock:
            for job_id in job_ids:
                self.tracked.pop(job_id, None)
            idle = not self.tracked and not self.present
        if idle:
            self.stop()

    def stop(self) -> None:
        self.done.set()
        with self.lock:
            thread, self.thread = self.thread, None
        if thread is not None:
            thread.join()

    def _beat(self) -> None:
        options = self.worker.options
        self._renew_presence()
        while not self.done.wait(options.heartbeat_s):
            self._renew_presence()
            with self.lock:
                live = {job_id: dropped for job_id, dropped in self.tracked.items() if job_id not in dropped}
            if not live:
                continue
            try:
                owned = self.worker.queue.heartbeat(self.worker.worker_id, list(live), lease_s=options.lease_s)
            except DatabaseUnavailable as error:
                log.error("worker %s: heartbeat failed: %s", self.worker.worker_id, error)
                continue
            for job_id, dropped in live.items():
                if job_id not in owned:
                    dropped.add(job_id)

    def _renew_presence(self) -> None:
        if not self.present:
            return
        try:
            self.worker.queue.worker_alive(self.worker.worker_id, ttl_s=self.PRESENCE_BEATS * self.worker.options.heartbeat_s)
        except DatabaseUnavailable as error:
            log.error("worker %s: could not renew its presence: %s", self.worker.worker_id, error)


def _describe_failure(error: Exception) -> str:
    if isinstance(error, OutOfMemory):
        return str(error)
    if is_out_of_memory(error):
        return "out of GPU memory"
    return f"{type(error).__name__}: {error}"
