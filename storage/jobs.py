"""The durable job queue: adapters submit and watch jobs, workers claim them under a lease.

Every state change is one transaction. A worker owns a job while `status == "running"` and
`worker_id` is its id; everything a worker writes checks both, so a worker whose lease expired (and
whose job another worker took) can never write a second result for the same job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from generation.request_options import row_values
from generation.types import Progress, RenderRequest, RenderResult
from storage.db import Database
from storage.errors import (
    BlockedTermFound,
    ImageNotFound,
    InvalidJob,
    JobNotFound,
    LeaseLost,
    QueueLimitReached,
    RequesterBanned,
    StyleNotFound,
)
from storage.images import ImageStore
from storage.models import HiddenImageRow, ImageRow, JobRow, WorkerRow
from storage.moderation import active_ban, find_blocked_term
from storage.styles import StyleStore, style_row
from storage.types import (
    ACTIVE_STATUSES,
    Job,
    JobFilter,
    JobPage,
    JobSubmission,
    QueueLimits,
    StoredImage,
    utcnow,
)
from storage.validation import check_png, validate_submission

MAX_PAGE = 200
ETA_SAMPLE = 50

_JOB_FIELDS = [f.name for f in fields(Job)]


# What a renderer may return: a still's candidates ("base", "sr"), a tween's frames and its animation.
RESULT_STAGES = ("base", "sr", "frame", "gif")
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")


def runs_alone(request: RenderRequest) -> bool:
    """Jobs that steer the model per request (a style, a reference picture, a box in a photo) or draw a
    tween take a batch of their own: a batch shares one pass through the model."""
    return (request.kind != "imagine" or request.style is not None or request.style_image_png is not None
            or request.box is not None)


def batch_key(request: RenderRequest) -> str:
    """Jobs can share a GPU batch when everything but the prompts and seeds matches; a job that
    `runs_alone` gets a key no other job has."""
    if runs_alone(request):
        return f"alone-{uuid.uuid4().hex}"
    parts = (
        request.guidance_scale,
        request.sr_guidance_scale,
        request.num_inference_steps,
        request.sr_num_inference_steps,
        request.scheduler,
        request.candidates,
        request.init_image_png is not None,
        request.strength if request.init_image_png is not None else None,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def job_from_row(row: JobRow) -> Job:
    return Job(**{name: getattr(row, name) for name in _JOB_FIELDS})


class JobQueue:
    """Submission, status, history and the worker side (claim, heartbeat, progress, complete, fail)."""

    def __init__(
        self,
        db: Database,
        images: ImageStore | None = None,
        limits: QueueLimits | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        styles: StyleStore | None = None,
    ) -> None:
        self.db = db
        self.images = images
        self.limits = limits or QueueLimits()
        # Where workers fetch a style's embeddings; submission checks the styles table itself.
        self.styles = styles
        # None: the database server's clock on PostgreSQL, so workers on hosts whose clocks drift
        # still agree on when a lease ran out; this machine's clock on SQLite (one host anyway).
        self.clock = clock

    # --- adapters -----------------------------------------------------------------------------

    def submit(self, submission: JobSubmission) -> Job:
        """Queue a job in one transaction, or return the existing job with the same idempotency key.

        Raises InvalidJob (also for an unknown or deleted style: its message names the style, and who
        deleted it when; `__cause__` is the StyleNotFound / StyleDeleted), RequesterBanned, BlockedTermFound,
        QueueLimitReached or DatabaseUnavailable; in every case nothing was queued.
        """
        validate_submission(submission, self.limits)
        if submission.idempotency_key is not None:
            existing = self._by_key(submission.idempotency_key)
            if existing is not None:
                return existing
        request = submission.request
        init_hash = self._put_picture(request.init_image_png, "an init image")
        style_image_hash = self._put_picture(request.style_image_png, "a style image")
        try:
            with self.db.write() as session:
                now = self._now(session)
                self._check_policy(session, submission, now)
                if request.style is not None:
                    try:
                        style_row(session, request.style)
                    except StyleNotFound as error:
                        raise InvalidJob(str(error)) from error
                row = JobRow(
                    idempotency_key=submission.idempotency_key,
                    source=submission.source,
                    requester_id=submission.requester_id,
                    requester_name=submission.requester_name,
                    place=submission.place,
                    prompt=request.prompt,
                    **row_values(request),
                    init_image_hash=init_hash,
                    style_image_hash=style_image_hash,
                    batch_key=batch_key(request),
                    priority=submission.priority,
                    status="queued",
                    attempts=0,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                return job_from_row(row)
        except IntegrityError:
            # Another process inserted the same idempotency key between our check and our insert.
            existing = self._by_key(submission.idempotency_key) if submission.idempotency_key else None
            if existing is None:
                raise
            return existing

    def get(self, job_id: int) -> Job:
        with self.db.read() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise JobNotFound(f"no job {job_id}")
            return job_from_row(row)

    def get_by_key(self, idempotency_key: str) -> Job | None:
        return self._by_key(idempotency_key)

    def cancel(self, job_id: int, reason: str = "cancelled") -> Job:
        """Cancel a queued or running job; a running job's worker notices at its next heartbeat or progress
        report and drops its work. A job that already finished is returned unchanged."""
        with self.db.write() as session:
            now = self._now(session)
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status.in_(ACTIVE_STATUSES))
                .values(status="cancelled", error=reason, finished_at=now, lease_expires_at=None)
            )
            row = session.get(JobRow, job_id)
            if row is None:
                raise JobNotFound(f"no job {job_id}")
            return job_from_row(row)

    def position(self, job_id: int) -> int | None:
        """1 for the next job to be claimed; None when the job is not waiting."""
        with self.db.read() as session:
            return self._position(session, job_id)

    def eta(self, job_id: int) -> dt.timedelta | None:
        """Expected time until the job finishes, from recent run times and how many workers are active;
        None when there is no history to go by or the job finished."""
        with self.db.read() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise JobNotFound(f"no job {job_id}")
            if row.status not in ACTIVE_STATUSES:
                return None
            mean = self._mean_run_time(session)
            if mean is None:
                return None
            if row.status == "running":
                elapsed = (self._now(session) - row.started_at).total_seconds() if row.started_at else 0.0
                return dt.timedelta(seconds=max(0.0, mean - elapsed))
            ahead = (self._position(session, job_id) or 1) - 1
            workers = max(1, self._active_workers(session))
            # Jobs ahead share the workers; ours starts when its turn comes and then takes one run.
            return dt.timedelta(seconds=mean * (ahead // workers + 1))

    def list(self, filters: JobFilter | None = None, *, limit: int = 50, before_id: int | None = None) -> JobPage:
        """A page of history, newest first (keyset paging on id, so deep pages stay fast)."""
        filters = filters or JobFilter()
        limit = max(1, min(limit, MAX_PAGE))
        query = select(JobRow).order_by(JobRow.id.desc()).limit(limit + 1)
        if before_id is not None:
            query = query.where(JobRow.id < before_id)
        if filters.status:
            query = query.where(JobRow.status.in_(list(filters.status)))
        if filters.source is not None:
            query = query.where(JobRow.source == filters.source)
        if filters.requester_id is not None:
            query = query.where(JobRow.requester_id == filters.requester_id)
        if filters.place is not None:
            query = query.where(JobRow.place == filters.place)
        if filters.prompt_contains:
            query = query.where(JobRow.prompt.contains(filters.prompt_contains, autoescape=True))
        if filters.since is not None:
            query = query.where(JobRow.created_at >= filters.since)
        if filters.until is not None:
            query = query.where(JobRow.created_at < filters.until)
        with self.db.read() as session:
            rows = list(session.scalars(query))
        jobs = [job_from_row(row) for row in rows[:limit]]
        return JobPage(jobs=jobs, next_before_id=jobs[-1].id if len(rows) > limit else None)

    def images_of(self, job_id: int, *, include_hidden: bool = False) -> list[StoredImage]:
        """Every stored candidate of a job (base and SR), in the order the renderer returned them."""
        with self.db.read() as session:
            query = (
                select(ImageRow, HiddenImageRow.sha256)
                .outerjoin(HiddenImageRow, HiddenImageRow.sha256 == ImageRow.sha256)
                .where(ImageRow.job_id == job_id)
                .order_by(ImageRow.id)
            )
            images = [_stored_image(row, hidden is not None) for row, hidden in session.execute(query)]
        return images if include_hidden else [image for image in images if not image.hidden]

    def wait(self, job_id: int, timeout_s: float | None = None) -> Job:
        """Block until the job is done (for the CLI and tests; adapters use AsyncJobs.wait)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for delay in backoff_delays():
            job = self.get(job_id)
            if job.done:
                return job
            if deadline is not None and time.monotonic() + delay > deadline:
                raise TimeoutError(f"job {job_id} is still {job.status} after {timeout_s} s")
            time.sleep(delay)
        raise AssertionError("unreachable")

    # --- workers ------------------------------------------------------------------------------

    def claim(
        self, worker_id: str, *, lease_s: float, max_batch: int = 1, max_attempts: int = 3, job_id: int | None = None
    ) -> list[Job]:
        """Take the most urgent queued job plus up to `max_batch - 1` compatible ones, under a lease.

        With `job_id`, take that job alone if it is queued (`glyphbot imagine` renders its own job in-process).

        Expired leases are returned to the queue first (or failed after `max_attempts`). PostgreSQL
        skips rows other workers are claiming (FOR UPDATE SKIP LOCKED); SQLite serialises writers
        with BEGIN IMMEDIATE, so the select-then-update below cannot interleave with another claim.
        """
        with self.db.write() as session:
            now = self._now(session)
            self._reclaim_expired(session, now, max_attempts)
            wanted = JobRow.status == "queued"
            if job_id is not None:
                wanted = wanted & (JobRow.id == job_id)
                max_batch = 1
            head = session.execute(
                select(JobRow.id, JobRow.batch_key)
                .where(wanted)
                .order_by(JobRow.priority, JobRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if head is None:
                return []
            ids = [head.id]
            if max_batch > 1:
                ids += session.scalars(
                    select(JobRow.id)
                    .where(JobRow.status == "queued", JobRow.batch_key == head.batch_key, JobRow.id != head.id)
                    .order_by(JobRow.priority, JobRow.id)
                    .limit(max_batch - 1)
                    .with_for_update(skip_locked=True)
                ).all()
            session.execute(
                update(JobRow)
                .where(JobRow.id.in_(ids), JobRow.status == "queued")
                .values(
                    status="running",
                    worker_id=worker_id,
                    attempts=JobRow.attempts + 1,
                    started_at=now,
                    lease_expires_at=now + dt.timedelta(seconds=lease_s),
                    progress_stage=None,
                    progress_step=None,
                    progress_total=None,
                    preview_hash=None,
                )
            )
            rows = session.scalars(select(JobRow).where(JobRow.id.in_(ids)).order_by(JobRow.priority, JobRow.id))
            return [job_from_row(row) for row in rows if row.worker_id == worker_id and row.status == "running"]

    def heartbeat(self, worker_id: str, job_ids: Iterable[int], *, lease_s: float) -> set[int]:
        """Extend the leases of jobs this worker still owns; returns those ids (a missing id was cancelled
        or taken over, and the worker must drop it)."""
        ids = list(job_ids)
        if not ids:
            return set()
        with self.db.write() as session:
            now = self._now(session)
            owned = session.scalars(
                update(JobRow)
                .where(JobRow.id.in_(ids), JobRow.worker_id == worker_id, JobRow.status == "running")
                .values(lease_expires_at=now + dt.timedelta(seconds=lease_s))
                .returning(JobRow.id)
            ).all()
        return set(owned)

    def report_progress(self, job_id: int, worker_id: str, progress: Progress) -> bool:
        """Record the running stage and step (and the stage's preview image); False means "stop, not yours"."""
        values: dict[str, object] = {
            "progress_stage": progress.stage,
            "progress_step": progress.step,
            "progress_total": progress.total_steps,
        }
        if progress.preview_png is not None and self.images is not None:
            values["preview_hash"] = self.images.put(progress.preview_png)
        with self.db.write() as session:
            owned = session.scalars(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.worker_id == worker_id, JobRow.status == "running")
                .values(**values)
                .returning(JobRow.id)
            ).all()
        return bool(owned)

    def complete(self, job_id: int, worker_id: str, result: RenderResult) -> Job:
        """Store every candidate and mark the job succeeded, in one transaction.

        Files go to the image store first (content-addressed, so a retry rewrites the same files);
        ImageStoreFull / ImageStoreError propagate with the database untouched. Raises LeaseLost
        when the worker no longer owns the job: its result is then discarded.
        """
        if self.images is None:
            raise InvalidJob("this queue has no image store to keep results in")
        check_result(result)
        hashes = [self.images.put(image.png) for image in result.images]
        with self.db.write() as session:
            now = self._now(session)
            row = self._owned_row(session, job_id, worker_id)
            if row.kind == "tween" and result.winner.stage != "gif":
                raise ValueError(f"a tween's chosen image must be its GIF, not a {result.winner.stage!r} image")
            for image, digest in zip(result.images, hashes, strict=True):
                session.add(
                    ImageRow(
                        job_id=job_id,
                        stage=image.stage,
                        seed=image.seed,
                        sha256=digest,
                        byte_size=len(image.png),
                        width=image.width,
                        height=image.height,
                        ocr_text=image.ocr_text,
                        ocr_score=image.ocr_score,
                        chosen=image.chosen,
                    )
                )
            row.status = "succeeded"
            row.error = None
            row.finished_at = now
            row.lease_expires_at = None
            session.flush()
            return job_from_row(row)

    def fail(self, job_id: int, worker_id: str, reason: str, *, retry: bool = False, max_attempts: int = 3) -> Job:
        """Fail the job with `reason`; with `retry`, queue it again instead while attempts remain."""
        with self.db.write() as session:
            now = self._now(session)
            row = self._owned_row(session, job_id, worker_id)
            row.error = reason
            row.lease_expires_at = None
            if retry and row.attempts < max_attempts:
                row.status, row.worker_id = "queued", None
            else:
                row.status, row.finished_at = "failed", now
            session.flush()
            return job_from_row(row)

    def release(self, worker_id: str, job_ids: Iterable[int]) -> None:
        """Give jobs back to the queue without counting the attempt (a worker shutting down cleanly)."""
        ids = list(job_ids)
        if not ids:
            return
        with self.db.write() as session:
            session.execute(
                update(JobRow)
                .where(JobRow.id.in_(ids), JobRow.worker_id == worker_id, JobRow.status == "running")
                .values(status="queued", worker_id=None, lease_expires_at=None, attempts=JobRow.attempts - 1)
            )

    def worker_alive(self, worker_id: str, *, ttl_s: float) -> None:
        """Record that this worker runs and will say so again within `ttl_s` seconds; rows of workers
        that stopped saying so (killed, host gone) are swept here, so the table stays small."""
        with self.db.write() as session:
            now = self._now(session)
            session.execute(delete(WorkerRow).where(WorkerRow.alive_until < now))
            until = now + dt.timedelta(seconds=ttl_s)
            renewed = session.execute(update(WorkerRow).where(WorkerRow.worker_id == worker_id).values(alive_until=until))
            if not renewed.rowcount:
                session.add(WorkerRow(worker_id=worker_id, started_at=now, alive_until=until))

    def worker_gone(self, worker_id: str) -> None:
        """A worker stopping cleanly: it no longer counts as running at once, not only when its row runs out."""
        with self.db.write() as session:
            session.execute(delete(WorkerRow).where(WorkerRow.worker_id == worker_id))

    def live_workers(self) -> int:
        """How many workers said lately that they run (0: queued jobs wait until someone starts one)."""
        with self.db.read() as session:
            now = self._now(session)
            return session.scalar(select(func.count()).select_from(WorkerRow).where(WorkerRow.alive_until >= now)) or 0

    def load_init_image(self, job: Job) -> bytes | None:
        """The user's picture (RenderRequest.init_image_png), or None when the job has none; InvalidJob
        saying in one line why it cannot be read (see _read_picture)."""
        return self._read_picture(job.init_image_hash, "the init image")

    def load_style_image(self, job: Job) -> bytes | None:
        """The reference picture's bytes (RenderRequest.style_image_png), or None when the job has none;
        InvalidJob as for load_init_image."""
        return self._read_picture(job.style_image_hash, "the style image")

    def load_style_tokens(self, job: Job) -> bytes | None:
        """The embeddings of the job's style (RenderRequest.style_tokens), or None when it has none.

        Raises StyleDeleted / StyleNotFound when the style went away after submission (the message says
        who deleted it and when), StyleError when its file is missing or damaged."""
        if job.style is None:
            return None
        if self.styles is None:
            raise InvalidJob("this queue has no style store to read the style's embeddings from")
        return self.styles.tokens(job.style)

    # --- internals ----------------------------------------------------------------------------

    def _put_picture(self, png: bytes | None, what: str) -> str | None:
        if png is None:
            return None
        if self.images is None:
            raise InvalidJob(f"this queue has no image store, so it cannot take {what}")
        return self.images.put(png)

    def _read_picture(self, digest: str | None, what: str) -> bytes | None:
        """The stored picture, passed through the submission's check again: one stored before the gate
        existed, or changed in the store since, fails its job here in one line, before a renderer decodes
        it (and allocates what a bomb's header claims) or fails in the decoder's own words."""
        if digest is None:
            return None
        if self.images is None:
            raise InvalidJob(f"this queue has no image store to read {what} from")
        try:
            data = self.images.read(digest)
            check_png("it", data)
        except (ImageNotFound, InvalidJob) as error:
            raise InvalidJob(f"{what} cannot be read: {error}") from None
        return data

    def _now(self, session: Session) -> dt.datetime:
        if self.clock is not None:
            return self.clock()
        if self.db.is_postgresql:
            return session.execute(text("SELECT statement_timestamp()")).scalar_one().astimezone(dt.timezone.utc)
        return utcnow()

    def _by_key(self, key: str) -> Job | None:
        with self.db.read() as session:
            row = session.scalar(select(JobRow).where(JobRow.idempotency_key == key))
            return None if row is None else job_from_row(row)

    def _check_policy(self, session: Session, submission: JobSubmission, now: dt.datetime) -> None:
        ban = active_ban(session, submission.source, submission.requester_id, submission.place, now)
        if ban is not None:
            what = "you are" if ban.kind == "user" else "this place is"
            raise RequesterBanned(f"{what} banned from generating images" + (f": {ban.reason}" if ban.reason else ""))
        request = submission.request
        term = (find_blocked_term(session, request.prompt) or find_blocked_term(session, request.negative_prompt)
                or find_blocked_term(session, request.end_prompt))
        if term is not None:
            raise BlockedTermFound("the prompt contains a blocked term")
        limits = [(JobRow.requester_id == submission.requester_id, self.limits.per_requester, "you already have")]
        if submission.place:
            limits.append((JobRow.place == submission.place, self.limits.per_place, "this place already has"))
        if self.db.is_postgresql:
            # Serialise submissions per requester and per place, so two at once cannot both pass a limit;
            # sorted, so two transactions never wait on each other's second lock.
            keys = sorted({f"user:{submission.source}:{submission.requester_id}", f"place:{submission.source}:{submission.place}"})
            for key in keys:
                session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": zlib.crc32(key.encode())})
        for condition, limit, whose in limits:
            waiting = session.scalar(
                select(func.count())
                .select_from(JobRow)
                .where(JobRow.source == submission.source, condition, JobRow.status.in_(ACTIVE_STATUSES))
            )
            if waiting >= limit:
                raise QueueLimitReached(f"{whose} {waiting} jobs waiting; the limit is {limit}")

    def _owned_row(self, session: Session, job_id: int, worker_id: str) -> JobRow:
        row = session.scalar(select(JobRow).where(JobRow.id == job_id).with_for_update())
        if row is None:
            raise JobNotFound(f"no job {job_id}")
        if row.status != "running" or row.worker_id != worker_id:
            raise LeaseLost(f"job {job_id} is {row.status} and no longer held by worker {worker_id}")
        return row

    def _reclaim_expired(self, session: Session, now: dt.datetime, max_attempts: int) -> None:
        expired = session.scalars(
            select(JobRow)
            .where(JobRow.status == "running", JobRow.lease_expires_at < now)
            .with_for_update(skip_locked=True)
        ).all()
        for row in expired:
            lost = f"worker {row.worker_id} stopped renewing its lease during attempt {row.attempts}"
            row.lease_expires_at = None
            if row.attempts >= max_attempts:
                row.status, row.finished_at = "failed", now
                row.error = f"gave up after {row.attempts} attempts: {lost}"
            else:
                row.status, row.worker_id, row.error = "queued", None, lost
        session.flush()

    def _position(self, session: Session, job_id: int) -> int | None:
        row = session.get(JobRow, job_id)
        if row is None:
            raise JobNotFound(f"no job {job_id}")
        if row.status != "queued":
            return None
        ahead = session.scalar(
            select(func.count())
            .select_from(JobRow)
            .where(
                JobRow.status == "queued",
                or_(JobRow.priority < row.priority, (JobRow.priority == row.priority) & (JobRow.id < row.id)),
            )
        )
        return ahead + 1

    def _mean_run_time(self, session: Session) -> float | None:
        recent = session.execute(
            select(JobRow.started_at, JobRow.finished_at)
            .where(JobRow.status == "succeeded", JobRow.finished_at.is_not(None))
            .order_by(JobRow.finished_at.desc())
            .limit(ETA_SAMPLE)
        ).all()
        runs = [(finished - started).total_seconds() for started, finished in recent if started]
        return sum(runs) / len(runs) if runs else None

    def _active_workers(self, session: Session) -> int:
        since = self._now(session) - dt.timedelta(minutes=5)
        return session.scalar(
            select(func.count(func.distinct(JobRow.worker_id))).where(
                or_(JobRow.status == "running", (JobRow.status == "succeeded") & (JobRow.finished_at > since))
            )
        )


def check_result(result: RenderResult) -> None:
    """ValueError unless exactly one image is chosen and each has a known stage (a GIF's bytes for "gif")."""
    chosen = [image for image in result.images if image.chosen]
    if len(chosen) != 1:
        raise ValueError(f"a result must mark exactly one image as chosen, not {len(chosen)}")
    for image in result.images:
        if image.stage not in RESULT_STAGES:
            raise ValueError(f"image stage {image.stage!r} is not one of {', '.join(RESULT_STAGES)}")
        if image.stage == "gif" and not image.png.startswith(GIF_SIGNATURES):
            raise ValueError("an image of stage 'gif' must be a GIF file")


def backoff_delays(initial_s: float = 0.05, maximum_s: float = 2.0, factor: float = 1.5) -> Iterator[float]:
    """Poll intervals: quick at first (a short job finishes fast), then easing off to spare the database."""
    delay = initial_s
    while True:
        yield delay
        delay = min(maximum_s, delay * factor)


def _stored_image(row: ImageRow, hidden: bool) -> StoredImage:
    return StoredImage(
        id=row.id,
        job_id=row.job_id,
        stage=row.stage,
        seed=row.seed,
        sha256=row.sha256,
        byte_size=row.byte_size,
        width=row.width,
        height=row.height,
        ocr_text=row.ocr_text,
        ocr_score=row.ocr_score,
        chosen=row.chosen,
        hidden=hidden,
    )
