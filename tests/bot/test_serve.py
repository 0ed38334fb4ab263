"""`glyphbot serve`: adapters plus an in-process worker in one process, stopped cleanly by a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.worker import Worker, WorkerOptions
from bot.render.model_free import TextDrawingRenderer
from bot.serve import ServeError, configured_adapters, serve
from config.settings import load_settings
from storage.db import open_database
from storage.images import ImageStore
from storage.jobs import JobQueue

from tests.storage.fixtures import submission, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("GLYPHBOT_") and name != "GLYPHBOT_TEST_PG":
            monkeypatch.delenv(name)
    values = {
        "GLYPHBOT_DATABASE__URL": db_url,
        "GLYPHBOT_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "GLYPHBOT_WORKER__RENDERER": "text",
        "GLYPHBOT_WORKER__POLL_INTERVAL_S": "0.05",
        "GLYPHBOT_HTTP__PORT": str(free_port()),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_serve_runs_the_http_adapter_and_a_worker_until_sigterm(serve_env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--adapter", "http"],
        cwd=Path(__file__).resolve().parents[2], env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{serve_env['GLYPHBOT_HTTP__PORT']}/api/v1/openapi.json") or process.poll() is not None)
        assert process.poll() is None, process.stdout.read()
        db = open_database(db_url)
        queue = JobQueue(db, ImageStore(tmp_path / "data" / "images"))
        job = queue.submit(submission("SERVED", candidates=1, num_inference_steps=2, sr_num_inference_steps=2))
        wait_for(lambda: queue.get(job.id).done)
        assert queue.get(job.id).status == "succeeded"
        db.dispose()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "serving http with an in-process worker" in output and "stopped" in output


def test_serve_without_a_checkpoint_stops_before_any_adapter_starts(serve_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GLYPHBOT_WORKER__RENDERER")
    monkeypatch.setenv("GLYPHBOT_GENERATION__CHECKPOINT_DIR", str(tmp_path / "none"))
    result = CliRunner().invoke(app, ["serve", "--adapter", "http"])
    assert result.exit_code == 2, result.output
    assert "no trained checkpoint to render with" in result.output
    assert not answers(f"http://127.0.0.1:{serve_env['GLYPHBOT_HTTP__PORT']}/api/v1/openapi.json")


def test_an_adapter_that_cannot_start_stops_serve_with_its_reason(serve_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["serve", "--adapter", "tumblr", "--adapter", "http", "--no-worker"])
    assert result.exit_code == 1, result.output
    assert "error: the tumblr adapter stopped: set tumblr.blog" in result.output


def test_unknown_adapters_are_refused(serve_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["serve", "--adapter", "irc"])
    assert result.exit_code == 2 and "unknown adapter 'irc'" in result.output


def test_configured_adapters_are_those_with_what_they_need(serve_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_adapters(load_settings()) == ["http"]
    monkeypatch.setenv("GLYPHBOT_DISCORD__TOKEN", "t")
    monkeypatch.setenv("GLYPHBOT_TUMBLR__BLOG", "glyphs")
    assert configured_adapters(load_settings()) == ["discord", "tumblr", "http"]


async def test_a_worker_that_dies_stops_serve_with_its_reason(queue: JobQueue) -> None:
    class BrokenQueue(JobQueue):
        def claim(self, worker_id: str, **kwargs) -> list:  # noqa: ANN003
            raise RuntimeError("the renderer's driver crashed")

    worker = Worker(BrokenQueue(queue.db, queue.images), TextDrawingRenderer(), WorkerOptions(poll_interval_s=0.01))
    with pytest.raises(ServeError, match="^the worker stopped: the renderer's driver crashed$"):
        await serve(None, None, [], worker)


async def test_setting_stop_ends_serve_and_its_worker(queue: JobQueue) -> None:
    import asyncio

    worker = Worker(queue, TextDrawingRenderer(), WorkerOptions(poll_interval_s=0.01))
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(None, None, [], worker, stop))
    job = queue.submit(submission("DONE BEFORE STOP", candidates=1, num_inference_steps=1, sr_num_inference_steps=1))
    while not queue.get(job.id).done:
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(serving, timeout=10)
    assert worker.stop_event.is_set() and queue.get(job.id).status == "succeeded"
