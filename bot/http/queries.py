"""Read-only queries the web side needs beyond `storage.jobs.JobQueue`: image ownership, and moderators'
history search, which also looks inside the OCR readings of every candidate (JobFilter only sees prompts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, or_, select

from storage.db import Database
from storage.jobs import job_from_row
from storage.models import HiddenImageRow, ImageRow, JobRow
from storage.types import Job


@dataclass(frozen=True)
class ImageOwners:
    jobs: list[tuple[str, str]]  # (source, requester_id) of every job that produced this content
    hidden: bool


def image_owners(db: Database, sha256: str) -> ImageOwners:
    with db.read() as session:
        owners = session.execute(
            select(JobRow.source, JobRow.requester_id).join(ImageRow, ImageRow.job_id == JobRow.id)
            .where(ImageRow.sha256 == sha256).distinct()
        ).all()
        hidden = session.get(HiddenImageRow, sha256) is not None
    return ImageOwners([(source, requester) for source, requester in owners], hidden)


@dataclass(frozen=True)
class HistoryFilter:
    """A moderator's history search; empty fields match everything. `text` searches prompts and OCR readings."""

    source: str = ""
    user: str = ""
    place: str = ""
    status: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str = ""


@dataclass(frozen=True)
class HistoryRow:
    job: Job
    winner_sha256: str | None
    winner_ocr_text: str | None
    winner_score: float | None
    winner_hidden: bool


@dataclass(frozen=True)
class HistoryPage:
    rows: list[HistoryRow]
    next_before_id: int | None


def search_history(db: Database, filters: HistoryFilter, *, limit: int, before_id: int | None = None) -> HistoryPage:
    """One page, newest first, keyset-paged on id (deep pages stay as fast as the first)."""
    query = select(JobRow).order_by(JobRow.id.desc()).limit(limit + 1)
    f = filters
    text_match = or_(
        JobRow.prompt.icontains(f.text, autoescape=True),
        exists().where(ImageRow.job_id == JobRow.id, ImageRow.ocr_text.icontains(f.text, autoescape=True)),
    )
    conditions = [
        (f.source, lambda: JobRow.source == f.source),
        (f.user, lambda: or_(JobRow.requester_id == f.user, JobRow.requester_name == f.user)),
        (f.place, lambda: JobRow.place == f.place),
        (f.status, lambda: JobRow.status == f.status),
        (f.since, lambda: JobRow.created_at >= f.since),
        (f.until, lambda: JobRow.created_at < f.until),
        (f.text, lambda: text_match),
    ]
    for value, condition in conditions:
        if value not in ("", None):
            query = query.where(condition())
    if before_id is not None:
        query = query.where(JobRow.id < before_id)
    with db.read() as session:
        jobs = [job_from_row(row) for row in session.scalars(query)]
        page, more = jobs[:limit], len(jobs) > limit
        winners = {
            row.job_id: (row, hidden is not None)
            for row, hidden in session.execute(
                select(ImageRow, HiddenImageRow.sha256)
                .outerjoin(HiddenImageRow, HiddenImageRow.sha256 == ImageRow.sha256)
                .where(ImageRow.job_id.in_([job.id for job in page]), ImageRow.chosen.is_(True))
            )
        }
    rows = []
    for job in page:
        image, hidden = winners.get(job.id, (None, False))
        rows.append(HistoryRow(job, image.sha256 if image else None, image.ocr_text if image else None,
                               image.ocr_score if image else None, hidden))
    return HistoryPage(rows, page[-1].id if more and page else None)
