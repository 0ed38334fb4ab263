"""Faults that used to lose data silently, played against real `glyphbot` processes.

- The SQLite file deleted or replaced under a running worker, `serve` or `jobs submit --wait`: they
  kept using the unlinked file (jobs "succeeded" where nobody could see them) while the next process
  started a second, empty history. Now each stops with one line naming the file.
- The database unreachable when a worker or `serve` starts: they exited at once. Now they retry
  with back-off, logging each attempt, unless told to fail fast.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.db import open_database
from storage.images import ImageStore
from storage.jobs import JobQueue
from tests.bot.test_serve import free_port
from tests.bot.worker.test_failures import TcpRelay

from .fixtures import PostgresDatabases, submission, wait_for

GLYPHBOT = Path(sys.executable).parent / "glyphbot"
# Generous: a passing test ends as soon as its condition holds; only a starved machine ever nears it.
DEADLINE_S = 60.0


class Glyphbot:
    """`glyphbot ARGS` as its own process, its stdout and stderr together in a file the test polls."""

    def __init__(self, tmp_path: Path, env: dict[str, str], *args: str) -> None:
        self.log_path = tmp_path / f"glyphbot-{args[0]}-{time.monotonic_ns()}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen([str(GLYPHBOT), *args], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for_output(self, pattern: str, count: int = 1) -> None:
        """Until `pattern` (a regex) appears `count` times; fails early with the output if the process ends first."""
        wait_for(lambda: len(re.findall(pattern, self.output)) >= count or self.process.poll() is not None, DEADLINE_S)
        assert len(re.findall(pattern, self.output)) >= count, self.output

    def exit_code(self) -> int:
        try:
            return self.process.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"glyphbot still running after {DEADLINE_S:.0f} s:\n{self.output}")

    def last_line(self) -> str:
        return self.output.strip().splitlines()[-1]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No settings but these: data under tmp_path, the model-free renderer, a quick poll."""
    values = {name: value for name, value in os.environ.items() if not name.startswith("GLYPHBOT_") or name == "GLYPHBOT_TEST_PG"}
    values.update({
        "GLYPHBOT_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "GLYPHBOT_WORKER__RENDERER": "text",
        "GLYPHBOT_WORKER__POLL_INTERVAL_S": "0.05",
        "GLYPHBOT_HTTP__PORT": str(free_port()),
    })
    return values


@pytest.fixture
def started() -> Iterator[list[Glyphbot]]:
    """Processes a test started; killed at its end whatever happened."""
    processes: list[Glyphbot] = []
    yield processes
    for process in processes:
        process.kill()


# --- the SQLite file deleted or replaced while in use ----------------------------------------


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "glyphbot.db"
    db = open_database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


def submit_and_see_it_succeed(path: Path, tmp_path: Path, worker: Glyphbot) -> None:
    """Proves the worker is up and writing into `path` before the test pulls it away."""
    db = open_database(f"sqlite:///{path}")
    queue = JobQueue(db, ImageStore(tmp_path / "data" / "images"))
    job = queue.submit(submission("BEFORE", candidates=1, num_inference_steps=2, sr_num_inference_steps=2))
    wait_for(lambda: queue.get(job.id).done or worker.process.poll() is not None, DEADLINE_S)
    assert queue.get(job.id).status == "succeeded", worker.output
    db.dispose()


def replace_with_a_fresh_database(path: Path) -> None:
    """What a restore from backup, or `glyphbot` on a copied data folder, does: another file takes the path."""
    fresh = path.with_name("fresh.db")
    db = open_database(f"sqlite:///{fresh}")
    db.upgrade()
    db.dispose()
    os.replace(fresh, path)


@pytest.mark.parametrize("fault", ["deleted", "replaced"])
def test_worker_stops_with_one_line_when_its_sqlite_file_is_deleted_or_replaced(
    fault: str, sqlite_file: Path, tmp_path: Path, env: dict[str, str], started: list[Glyphbot]
) -> None:
    env["GLYPHBOT_DATABASE__URL"] = f"sqlite:///{sqlite_file}"
    worker = Glyphbot(tmp_path, env, "worker")
    started.append(worker)
    submit_and_see_it_succeed(sqlite_file, tmp_path, worker)
    if fault == "deleted":
        sqlite_file.unlink()
    else:
        replace_with_a_fresh_database(sqlite_file)
    assert worker.exit_code() == 1, worker.output
    assert worker.last_line().startswith(f"error: SQLite database {sqlite_file} was {fault} while in use"), worker.output
    assert "Traceback" not in worker.output
    if fault == "deleted":
        assert not sqlite_file.exists(), "the worker started a second database in the old one's place"


def test_serve_stops_with_one_line_when_its_sqlite_file_is_deleted(
    sqlite_file: Path, tmp_path: Path, env: dict[str, str], started: list[Glyphbot]
) -> None:
    env["GLYPHBOT_DATABASE__URL"] = f"sqlite:///{sqlite_file}"
    serve = Glyphbot(tmp_path, env, "serve", "--adapter", "http")
    started.append(serve)
    submit_and_see_it_succeed(sqlite_file, tmp_path, serve)
    sqlite_file.unlink()
    assert serve.exit_code() == 1, serve.output
    assert serve.last_line().startswith(f"error: the worker stopped: SQLite database {sqlite_file} was deleted while in use"), serve.output
    assert "Traceback" not in serve.output
    assert not sqlite_file.exists()


@pytest.mark.parametrize("fault", ["deleted", "replaced"])
def test_serve_without_a_worker_stops_with_one_line_within_5_s_when_its_sqlite_file_is_deleted_or_replaced(
    fault: str, sqlite_file: Path, tmp_path: Path, env: dict[str, str], started: list[Glyphbot]
) -> None:
    """No worker makes transactions here, so only serve's own watch of the file can notice it went.
    The 5 s run to the error line (adapters closed by then); the exit after it is the interpreter's own
    teardown, which a machine this test shares with training can stretch past seconds."""
    env["GLYPHBOT_DATABASE__URL"] = f"sqlite:///{sqlite_file}"
    serve = Glyphbot(tmp_path, env, "serve", "--adapter", "http", "--no-worker")
    started.append(serve)
    serve.wait_for_output(r"HTTP API on http://")
    if fault == "deleted":
        sqlite_file.unlink()
    else:
        replace_with_a_fresh_database(sqlite_file)
    wait_for(lambda: "error: " in serve.output or serve.process.poll() is not None, 5.0)
    assert serve.exit_code() == 1, serve.output
    assert re.match(f"error: .*SQLite database {re.escape(str(sqlite_file))} was {fault} while in use", serve.last_line()), serve.output
    assert "Traceback" not in serve.output


def test_jobs_submit_wait_stops_with_one_line_when_the_sqlite_file_is_deleted(
    sqlite_file: Path, tmp_path: Path, env: dict[str, str], started: list[Glyphbot]
) -> None:
    env["GLYPHBOT_DATABASE__URL"] = f"sqlite:///{sqlite_file}"
    waiting = Glyphbot(tmp_path, env, "jobs", "submit", "HELLO", "--wait", "--wait-for-worker", "--timeout", "120")
    started.append(waiting)
    waiting.wait_for_output(r"job 1 queued")
    sqlite_file.unlink()
    assert waiting.exit_code() == 1, waiting.output
    assert waiting.last_line().startswith(f"error: SQLite database {sqlite_file} was deleted while in use"), waiting.output
    assert "Traceback" not in waiting.output


# --- the database unreachable at start-up ------------------------------------------------------


def closed_port_url(database: str = "glyphbot") -> tuple[str, int]:
    port = free_port()  # nothing listens there: connections are refused, as while PostgreSQL restarts
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}", port


RETRY_LINE = r"database unavailable: .*Connection refused.*; attempt {n} failed, retrying in {delay} s"


def test_worker_retries_an_unreachable_database_with_back_off_and_works_once_it_answers(
    pg_databases: PostgresDatabases, tmp_path: Path, env: dict[str, str], started: list[Glyphbot]
) -> None:
    real_url = pg_databases.create()
    db = open_database(real_url)
    db.upgrade()
    queue = JobQueue(db, ImageStore(tmp_path / "data" / "images"))
    job = queue.submit(submission("PATIENT", candidates=1, num_inference_steps=2, sr_num_inference_steps=2))
    env["GLYPHBOT_DATABASE__URL"], port = closed_port_url(real_url.rsplit("/", 1)[1])
    worker = Glyphbot(tmp_path, env, "worker")
    started.append(worker)
    worker.wait_for_output(RETRY_LINE.format(n=1, delay=1))
    worker.wait_for_output(RETRY_LINE.format(n=2, delay=2))
    assert worker.process.poll() is None, worker.output
    relay = TcpRelay(("127.0.0.1", 5432), port=port)  # the database is back
    try:
        wait_for(lambda: queue.get(job.id).done, DEADLINE_S)
        assert queue.get(job.id).status == "succeeded", worker.output
        worker.process.send_signal(signal.SIGTERM)
        assert worker.exit_code() == 0, worker.output
    finally:
        relay.close()
        db.dispose()


def test_worker_fail_fast_stops_at_once_with_the_reason(tmp_path: Path, env: dict[str, str], started: list[Glyphbot]) -> None:
    env["GLYPHBOT_DATABASE__URL"], port = closed_port_url()
    worker = Glyphbot(tmp_path, env, "worker", "--fail-fast")
    started.append(worker)
    assert worker.exit_code() == 1, worker.output
    assert re.fullmatch(rf"error: database unavailable: .*port {port} failed: Connection refused", worker.last_line()), worker.output
    assert "retrying" not in worker.output and "Traceback" not in worker.output


def test_serve_retries_an_unreachable_database_unless_the_setting_says_fail_fast(
    tmp_path: Path, env: dict[str, str], started: list[Glyphbot]
) -> None:
    env["GLYPHBOT_DATABASE__URL"], _ = closed_port_url()
    patient = Glyphbot(tmp_path, env, "serve", "--adapter", "http")
    started.append(patient)
    patient.wait_for_output(RETRY_LINE.format(n=1, delay=1))
    patient.wait_for_output(RETRY_LINE.format(n=2, delay=2))
    assert patient.process.poll() is None, patient.output
    env["GLYPHBOT_DATABASE__FAIL_FAST"] = "true"
    hasty = Glyphbot(tmp_path, env, "serve", "--adapter", "http")
    started.append(hasty)
    assert hasty.exit_code() == 1, hasty.output
    assert hasty.last_line().startswith("error: database unavailable: "), hasty.output
    assert "retrying" not in hasty.output
