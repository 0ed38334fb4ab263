"""Figures for the moderators' dashboard: queue, throughput, latency and how often the text came out right.

Computed from the jobs and images tables over a recent window, in Python rather than SQL, because
percentiles are not portable between SQLite and PostgreSQL and a day of jobs is small.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from storage.db import Database
from storage.models import ImageRow, JobRow
from storage.types import utcnow

WINDOW_HOURS = 24
ACCURACY_SAMPLE = 100


@dataclass(frozen=True)
class HourBucket:
    start: dt.datetime
    finished: int
    p50_s: float | None
    p95_s: float | None
    exact: int
    judged: int


@dataclass(frozen=True)
class Dashboard:
    queued: int
    running: int
    jobs_last_hour: int
    p50_s: float | None  # submission to result, over the whole window
    p95_s: float | None
    exact_share: float | None  # of the last ACCURACY_SAMPLE winners, the share whose OCR text equals the prompt
    judged: int
    hours: list[HourBucket]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): always one of the observed values, None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats going astray
    return ordered[int(rank) - 1]


def text_matches(prompt: str, ocr_text: str | None) -> bool:
    """Exact match line by line, ignoring spaces at line ends and blank lines (OCR adds both freely)."""
    if ocr_text is None:
        return False

    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]

    return lines(prompt) == lines(ocr_text)


def dashboard(db: Database, now: dt.datetime | None = None) -> Dashboard:
    now = now or utcnow()
    since = (now - dt.timedelta(hours=WINDOW_HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    with db.read() as session:
        counts = dict(session.execute(
            select(JobRow.status, func.count()).where(JobRow.status.in_(("queued", "running"))).group_by(JobRow.status)
        ).all())
        finished = session.execute(
            select(JobRow.created_at, JobRow.finished_at, JobRow.prompt, ImageRow.ocr_text)
            .outerjoin(ImageRow, (ImageRow.job_id == JobRow.id) & ImageRow.chosen.is_(True))
            .where(JobRow.status == "succeeded", JobRow.finished_at >= since)
            .order_by(JobRow.finished_at.desc())
        ).all()
    hours = [since + dt.timedelta(hours=i) for i in range(WINDOW_HOURS)]
    latency_by_hour: dict[dt.datetime, list[float]] = {hour: [] for hour in hours}
    exact_by_hour: dict[dt.datetime, list[bool]] = {hour: [] for hour in hours}
    for created, done, prompt, ocr_text in finished:
        hour = done.replace(minute=0, second=0, microsecond=0)
        if hour in latency_by_hour:
            latency_by_hour[hour].append((done - created).total_seconds())
            exact_by_hour[hour].append(text_matches(prompt, ocr_text))
    recent = [text_matches(prompt, ocr) for _c, _d, prompt, ocr in finished[:ACCURACY_SAMPLE]]
    latencies = [(d - c).total_seconds() for c, d, _p, _o in finished]
    last_hour = sum(1 for _c, d, _p, _o in finished if d >= now - dt.timedelta(hours=1))
    return Dashboard(
        queued=counts.get("queued", 0),
        running=counts.get("running", 0),
        jobs_last_hour=last_hour,
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        exact_share=sum(recent) / len(recent) if recent else None,
        judged=len(recent),
        hours=[HourBucket(hour, len(latency_by_hour[hour]), percentile(latency_by_hour[hour], 50),
                          percentile(latency_by_hour[hour], 95), sum(exact_by_hour[hour]), len(exact_by_hour[hour]))
               for hour in hours],
    )
