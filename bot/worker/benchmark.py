"""`glyphbot bench queue`: how fast the queue moves with a renderer that costs nothing.

It lives with the worker, not in storage/ beside the other benchmarks, because it runs real worker
processes and storage/ may not import bot/.

Figures: jobs/s submitted and jobs/s completed (SQLite with 1 worker; PostgreSQL with 1, 4, 16 worker
processes), what batching gains, and the latency of a moderator's history page at a large job count.
The baseline printed beside them is measured in the same run on the same database: the rate of
bare committed single-row transactions, the ceiling any queue that writes per job runs into.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from generation.types import RenderRequest
from storage.db import Database, open_database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.types import JobFilter, JobSubmission, QueueLimits

UNLIMITED = QueueLimits(per_requester=10**9, per_place=10**9)


def run_queue_bench(*, jobs: int, history_rows: int, postgres_url: str | None, worker_counts: list[int], batch: int) -> None:
    with tempfile.TemporaryDirectory(prefix="glyphbot-bench-") as folder:
        root = Path(folder)
        print(f"queue benchmark: {jobs} jobs per run, zero-cost renderer, {os.cpu_count()} CPU cores")
        sqlite_url = f"sqlite:///{root / 'bench.db'}"
        _throughput("SQLite", sqlite_url, root, jobs, [1], batch, reset=_reset_sqlite(root))
        if batch == 1:
            _throughput("SQLite (batch 4)", sqlite_url, root, jobs, [1], 4, reset=_reset_sqlite(root))
        pg_admin = None
        if postgres_url:
            try:
                pg_url, pg_admin = _create_pg_database(postgres_url)
            except Exception as error:  # noqa: BLE001  no server: say so and go on with SQLite
                print(f"PostgreSQL skipped: cannot create a database at {postgres_url}: {error}")
        try:
            if pg_admin:
                _throughput("PostgreSQL", pg_url, root, jobs, worker_counts, batch, reset=_reset_pg(pg_url))
                if batch == 1:
                    _throughput("PostgreSQL (batch 4)", pg_url, root, jobs, [max(worker_counts)], 4, reset=_reset_pg(pg_url))
            _history("SQLite", sqlite_url, history_rows)
            if pg_admin:
                _history("PostgreSQL", pg_url, history_rows)
        finally:
            if pg_admin:
                pg_admin()


# --- throughput -------------------------------------------------------------------------------


def _throughput(label: str, url: str, root: Path, jobs: int, worker_counts: list[int], batch: int, reset: Callable[[], None]) -> None:
    reset()
    db = open_database(url)
    print(f"\n{label}: baseline {_bare_commits_per_s(db):,.0f} single-row commits/s")
    db.dispose()
    for count in worker_counts:
        reset()
        db = open_database(url)
        queue = JobQueue(db, ImageStore(root / "images"), UNLIMITED)
        started = time.perf_counter()
        for index in range(jobs):
            queue.submit(_submission(index))
        submit_rate = jobs / (time.perf_counter() - started)
        seconds = _drain(url, root, count, batch)
        with db.read() as session:
            done = session.execute(text("SELECT count(*) FROM jobs WHERE status = 'succeeded'")).scalar()
        db.dispose()
        if done != jobs:
            raise RuntimeError(f"{label}: only {done} of {jobs} jobs succeeded")
        print(f"  {count:>2} worker(s), batch {batch}: submit {submit_rate:,.0f} jobs/s (1 client); "
              f"complete {jobs / seconds:,.0f} jobs/s")


def _bare_commits_per_s(db: Database, rounds: int = 300) -> float:
    with db.write() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS bench_baseline (n INTEGER)"))
    started = time.perf_counter()
    for index in range(rounds):
        with db.write() as session:
            session.execute(text("INSERT INTO bench_baseline (n) VALUES (:n)"), {"n": index})
    rate = rounds / (time.perf_counter() - started)
    with db.write() as session:
        session.execute(text("DROP TABLE bench_baseline"))
    return rate


def _drain(url: str, root: Path, workers: int, batch: int) -> float:
    """Seconds for `workers` processes to complete every queued job, from a common start signal."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(workers + 1)
    processes = [context.Process(target=_worker_process, args=(url, str(root / "images"), batch, ready)) for _ in range(workers)]
    for process in processes:
        process.start()
    ready.wait()  # every worker has connected and is about to claim
    started = time.perf_counter()
    for process in processes:
        process.join()
    return time.perf_counter() - started


def _worker_process(url: str, images: str, batch: int, ready) -> None:  # noqa: ANN001  multiprocessing Barrier
    from bot.worker.worker import Worker, WorkerOptions
    from bot.render.model_free import ConstantRenderer

    db = open_database(url)
    db.ping()
    worker = Worker(JobQueue(db, ImageStore(images)), ConstantRenderer(), WorkerOptions(lease_s=60, heartbeat_s=10, batch_size=batch, poll_interval_s=0.01))
    ready.wait()
    worker.run(exit_when_idle=True)
    db.dispose()


def _submission(index: int) -> JobSubmission:
    return JobSubmission(RenderRequest(prompt=f"BENCH {index}"), "cli", f"user{index % 100}", place=f"place{index % 10}")


# --- history latency --------------------------------------------------------------------------


def _history(label: str, url: str, rows: int) -> None:
    db = open_database(url)
    with db.write() as session:
        session.execute(text("DELETE FROM images"))
        session.execute(text("DELETE FROM jobs"))
    started = time.perf_counter()
    _bulk_insert_jobs(db, rows)
    with db.write() as session:
        session.execute(text("ANALYZE"))
    print(f"\n{label} history: {rows:,} jobs inserted in {time.perf_counter() - started:.1f} s; page of 50, ms p50 / p99:")
    queue = JobQueue(db)
    with db.read() as session:
        middle_id = session.execute(text("SELECT max(id) / 2 FROM jobs")).scalar()
    cases = [
        ("newest page", JobFilter(), None),
        ("page deep in history (before_id)", JobFilter(), middle_id),
        ("one requester (discord)", JobFilter(source="discord", requester_id="u124"), None),
        ("one place, failed only", JobFilter(source="discord", place="p80", status=["failed"]), None),
        ("the Tumblr blog, failed only", JobFilter(source="tumblr", place="blog:glyphs", status=["failed"]), None),
        ("failed, all sources", JobFilter(status=["failed"]), None),
        ("prompt contains (full scan)", JobFilter(prompt_contains="word 4242"), None),
    ]
    for name, filters, before in cases:
        repeats = 10 if filters.prompt_contains else 100
        samples = []
        for _ in range(repeats):
            begin = time.perf_counter()
            queue.list(filters, limit=50, before_id=before)
            samples.append((time.perf_counter() - begin) * 1000)
        samples.sort()
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(f"  {name:<34} {statistics.median(samples):8.2f} / {p99:8.2f}  ({repeats} runs)")
    _submit_latency(db, rows)
    db.dispose()


def _submit_latency(db: Database, rows: int) -> None:
    """A submission counts the requester's and the place's waiting jobs (queue limits) under the write
    lock, so its cost must not grow with their history: the Tumblr blog has a quarter of all jobs."""
    print("  submit (limits checked), ms p50 / p99:")
    queue = JobQueue(db, None, QueueLimits(per_requester=10**6, per_place=10**6))
    for name, requester, place in (("new requester", "nobody-yet", "nowhere-yet"), (f"the Tumblr blog ({rows // 4:,} jobs)", "glyphs", "blog:glyphs")):
        samples = []
        for index in range(50):
            begin = time.perf_counter()
            queue.submit(JobSubmission(RenderRequest(prompt=f"LATENCY {index}"), "tumblr", requester, requester, place))
            samples.append((time.perf_counter() - begin) * 1000)
        samples.sort()
        print(f"    {name:<32} {statistics.median(samples):8.2f} / {samples[-1]:8.2f}  (50 runs; p99 = max)")


def _bulk_insert_jobs(db: Database, rows: int) -> None:
    """Synthetic finished jobs generated inside the database: 4 sources, 50k requesters, 2k places, and
    one Tumblr blog that is requester and place of every Tumblr job (as bot/tumblr submits them)."""
    columns = (
        "source, requester_id, requester_name, place, prompt, negative_prompt, guidance_scale, sr_guidance_scale, "
        "num_inference_steps, sr_num_inference_steps, scheduler, candidates, strength, batch_key, priority, "
        "status, attempts, created_at, started_at, finished_at, worker_id"
    )
    values = (
        "(CASE n % 4 WHEN 0 THEN 'discord' WHEN 1 THEN 'tumblr' WHEN 2 THEN 'http' ELSE 'cli' END), "
        "(CASE n % 4 WHEN 1 THEN 'glyphs' ELSE 'u' || (n % 50000) END), 'name', "
        "(CASE n % 4 WHEN 1 THEN 'blog:glyphs' ELSE 'p' || (n % 2000) END), 'word ' || n, '', 2.0, 1.0, 50, 25, 'dpmsolver', 4, 0.75, 'k', 0, "
        "(CASE (n / 4) % 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'cancelled' ELSE 'succeeded' END), 1, "
    )
    if db.is_postgresql:
        stamp = "TIMESTAMP '2026-01-01' + n * INTERVAL '1 second'"
        sql = f"INSERT INTO jobs ({columns}) SELECT {values}{stamp}, {stamp}, {stamp}, 'w' FROM generate_series(1, :rows) AS n"
    else:
        stamp = "datetime('2026-01-01', '+' || n || ' seconds')"
        sql = (
            f"WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < :rows) "
            f"INSERT INTO jobs ({columns}) SELECT {values}{stamp}, {stamp}, {stamp}, 'w' FROM series"
        )
    with db.write() as session:
        session.execute(text(sql), {"rows": rows})


# --- databases --------------------------------------------------------------------------------


def _reset_sqlite(root: Path) -> Callable[[], None]:
    def reset() -> None:
        for suffix in ("", "-wal", "-shm"):
            (root / f"bench.db{suffix}").unlink(missing_ok=True)
        db = open_database(f"sqlite:///{root / 'bench.db'}")
        db.upgrade()
        db.dispose()

    return reset


def _reset_pg(url: str) -> Callable[[], None]:
    def reset() -> None:
        db = open_database(url)
        with db.write() as session:
            session.execute(text("TRUNCATE images, jobs RESTART IDENTITY CASCADE"))
        db.dispose()

    return reset


def _create_pg_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """A throwaway database on the server, migrated; returns its URL and the function that drops it."""
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    name = f"glyphbot_bench_{uuid.uuid4().hex[:8]}"
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    db = open_database(url)
    db.upgrade()
    db.dispose()

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop
