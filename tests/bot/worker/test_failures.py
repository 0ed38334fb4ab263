"""Failures across processes: a worker killed mid-job, workers racing, the database or the disk going away."""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.worker import Worker, WorkerOptions
from bot.render.model_free import TextDrawingRenderer
from storage.db import open_database
from storage.errors import DatabaseUnavailable
from storage.images import ImageStore
from storage.jobs import JobQueue

from tests.storage.fixtures import submission, wait_for

REPO = Path(__file__).resolve().parents[3]


def start_worker(db_url: str, tmp_path: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.bot.worker.worker_process", "--url", db_url,
               "--images", str(tmp_path / "images"), "--claims", str(tmp_path / "claims.txt"), *extra]
    return subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)


def test_killed_worker_job_completes_exactly_once_on_another(queue: JobQueue, db_url: str, tmp_path: Path) -> None:
    job = queue.submit(submission("SURVIVE", num_inference_steps=200, sr_num_inference_steps=5, candidates=2))
    first = start_worker(db_url, tmp_path, "--step-delay", "0.02", "--lease", "1.5", "--heartbeat", "0.3")
    try:
        wait_for(lambda: (queue.get(job.id).progress_step or 0) > 5)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        assert queue.get(job.id).status == "running"  # nobody told the database
        second = start_worker(db_url, tmp_path, "--step-delay", "0.001", "--lease", "1.5", "--heartbeat", "0.3", "--max-jobs", "1")
        assert second.wait(timeout=60) == 0, second.stderr.read()
    finally:
        first.kill()
    done = queue.get(job.id)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert len(queue.images_of(job.id)) == 3  # one result: two base candidates and one SR image
    claims = (tmp_path / "claims.txt").read_text().split("\n")[:-1]
    assert len(claims) == 2 and claims[0].split()[0] != claims[1].split()[0]


def test_racing_workers_never_claim_the_same_job(queue: JobQueue, db_url: str, tmp_path: Path) -> None:
    jobs = [queue.submit(submission(f"JOB {i}", candidates=1)) for i in range(150)]
    workers = [start_worker(db_url, tmp_path, "--batch", str(batch), "--exit-when-idle") for batch in (1, 3, 1, 2)]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read()
    claims = [line.split() for line in (tmp_path / "claims.txt").read_text().splitlines()]
    counts = collections.Counter(job_id for _, job_id in claims)
    assert sorted(counts) == sorted(str(job.id) for job in jobs)
    assert set(counts.values()) == {1}, "a job was claimed twice"
    assert len({worker for worker, _ in claims}) > 1, "only one worker got work; the race was not exercised"
    for job in jobs:
        done = queue.get(job.id)
        assert (done.status, done.attempts) == ("succeeded", 1)
    with queue.db.read() as session:
        assert session.execute(text("SELECT count(*) FROM images")).scalar() == 2 * len(jobs)


def test_database_briefly_unavailable_gives_a_clear_error_and_the_worker_retries(
    db_url: str, tmp_path: Path, store: ImageStore
) -> None:
    """A TCP relay in front of PostgreSQL (or an exclusive lock on the SQLite file) plays the outage."""
    with Outage(db_url) as outage:
        db = open_database(outage.url, busy_timeout_s=0.3)
        queue = JobQueue(db, store)
        job = queue.submit(submission("PATIENCE", candidates=1))
        outage.begin()
        with pytest.raises(DatabaseUnavailable, match="database (unavailable|connection lost)"):
            queue.submit(submission("ADAPTER SEES THIS"))
        worker = Worker(queue, TextDrawingRenderer(), WorkerOptions(lease_s=30, heartbeat_s=1, poll_interval_s=0.05, db_retry_max_s=0.2))
        thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1})
        thread.start()
        time.sleep(1.0)  # the worker is failing to claim and retrying
        assert thread.is_alive()
        outage.end()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert queue.get(job.id).status == "succeeded"
        db.dispose()


@pytest.fixture
def full_image_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImageStore]:
    """An image store on a real, nearly full 64 KiB tmpfs where this machine lets us mount one (root),
    else one whose writes fail with ENOSPC exactly as a full disk's do."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)]
    if subprocess.run(mount, capture_output=True).returncode == 0:
        try:
            (mount_point / "filler").write_bytes(b"\0" * 60 * 1024)
            yield ImageStore(mount_point / "images")
        finally:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)
        return

    def no_space(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("storage.images.os.fsync", no_space)
    yield ImageStore(mount_point / "images")


def test_disk_full_fails_the_job_with_the_reason_and_keeps_the_database_consistent(
    queue: JobQueue, full_image_store: ImageStore
) -> None:
    job = queue.submit(submission("NO ROOM", candidates=2))
    queue.images = full_image_store
    Worker(queue, TextDrawingRenderer(), WorkerOptions(lease_s=30, heartbeat_s=1, poll_interval_s=0.02)).run(exit_when_idle=True)
    failed = queue.get(job.id)
    assert failed.status == "failed"
    assert "out of disk space" in failed.error
    assert queue.images_of(job.id, include_hidden=True) == []
    assert not any(path.name.startswith(".incoming-") for path in full_image_store.root.rglob("*"))


class Outage:
    """Makes the database unreachable between begin() and end()."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.is_sqlite = db_url.startswith("sqlite")
        self.blocker = None

    def __enter__(self) -> Outage:
        if self.is_sqlite:
            self.url = self.db_url
        else:
            self.relay = TcpRelay(("127.0.0.1", 5432))
            self.url = self.db_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.relay.port}")
        return self

    def begin(self) -> None:
        if self.is_sqlite:
            # An open write transaction holds SQLite's single write lock until end(): every writer waits
            # its busy timeout, then gives up, as it would behind a stuck process.
            self.blocker = open_database(self.db_url)._write_engine.connect()
            self.blocker.exec_driver_sql("UPDATE jobs SET priority = priority")
        else:
            self.relay.set_down(True)

    def end(self) -> None:
        if self.is_sqlite:
            self.blocker.rollback()
            self.blocker.close()
            self.blocker.engine.dispose()
        else:
            self.relay.set_down(False)

    def __exit__(self, *exc_info: object) -> None:
        if not self.is_sqlite:
            self.relay.close()


class TcpRelay:
    """Forwards local connections to PostgreSQL; `set_down(True)` cuts every connection and refuses new ones.

    `port` 0 picks a free one; a given port lets a test make a server appear where clients already knock.
    """

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.down = False
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def set_down(self, down: bool) -> None:
        self.down = down
        if down:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
            self.sockets.clear()

    def close(self) -> None:
        self.set_down(True)
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


async def test_adapters_waiting_ride_out_a_short_outage_and_hear_of_a_long_one(db_url: str, store: ImageStore) -> None:
    import asyncio

    from storage.async_api import AsyncJobs

    with Outage(db_url) as outage:
        db = open_database(outage.url, busy_timeout_s=0.2)
        queue = JobQueue(db, store)
        job = queue.submit(submission("WAIT FOR ME", candidates=1, num_inference_steps=2))
        patient = AsyncJobs(queue, poll_initial_s=0.05, poll_max_s=0.1, outage_tolerance_s=10)
        # SQLite readers are never blocked by a held write lock (WAL), so cut reads there by the worker
        # not finishing: the wait must still end once the outage is over and the job completes.
        waiting = asyncio.create_task(patient.wait(job.id, timeout_s=30))
        outage.begin()
        await asyncio.sleep(0.6)
        assert not waiting.done()
        outage.end()
        Worker(queue, TextDrawingRenderer(), WorkerOptions(lease_s=30, heartbeat_s=1, poll_interval_s=0.02)).run(exit_when_idle=True)
        assert (await waiting).status == "succeeded"
        if not outage.is_sqlite:
            impatient = AsyncJobs(queue, poll_initial_s=0.05, poll_max_s=0.1, outage_tolerance_s=0.3)
            outage.begin()
            with pytest.raises(DatabaseUnavailable):
                await impatient.wait(job.id, timeout_s=10)
            outage.end()
        db.dispose()
