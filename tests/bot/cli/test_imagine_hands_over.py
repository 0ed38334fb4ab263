"""`glyphbot imagine` hands a plain request to a worker that is already running (its model is loaded), and
never imports torch itself; with no worker, or once the worker is gone, it renders in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bot.cli.test_refusals_before_loading import PROBE, ROOT


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a glyphbot process on a fresh embedded SQLite database and image store."""
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GLYPHBOT_DATABASE__URL", raising=False)
    return dict(os.environ)


def _storage():  # noqa: ANN202
    from storage.facade import open_storage

    return open_storage()


def test_a_running_worker_draws_the_picture_and_imagine_never_imports_torch(embedded: dict[str, str], tmp_path: Path) -> None:
    worker = subprocess.Popen([sys.executable, "-c", PROBE, "worker", "--renderer", "text"], cwd=ROOT, env=embedded,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # a busy machine can take long to start a process
        while not _storage().jobs.live_workers():
            assert worker.poll() is None, worker.stderr.read()
            assert time.monotonic() < deadline, "the worker never said it runs"
            time.sleep(0.2)
        out = tmp_path / "hello.png"
        done = subprocess.run([sys.executable, "-c", PROBE, "imagine", "HELLO", "--candidates", "1", "--out", str(out)],
                              cwd=ROOT, env=embedded, capture_output=True, text=True, timeout=300)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "torch not imported"
    assert done.stdout.startswith(f"{out}: ") and "job 1;" in done.stdout
    [job] = _storage().jobs.list().jobs
    assert job.status == "succeeded" and job.source == "cli" and job.worker_id
    assert out.read_bytes() == _storage().images.read(next(i for i in _storage().jobs.images_of(job.id) if i.chosen).sha256)


def test_with_no_worker_left_the_job_stays_queued_for_imagine_to_render(embedded: dict[str, str]) -> None:
    from bot.cli.generation_commands import _drawn_by_a_worker
    from generation.types import RenderRequest
    from storage.types import JobSubmission

    storage = _storage()
    job = storage.jobs.submit(JobSubmission(RenderRequest("HELLO"), "cli", "me", "me"))
    shown = []
    assert _drawn_by_a_worker(storage, job.id, shown.append) is False
    assert storage.jobs.get(job.id).status == "queued" and shown == []
