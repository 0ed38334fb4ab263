"""`glyphbot jobs ...`, `glyphbot worker` and `glyphbot db ...` against a configured database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.worker import Worker, WorkerOptions
from bot.render.model_free import TextDrawingRenderer
from storage.facade import open_storage


@pytest.fixture
def configured(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GLYPHBOT_DATABASE__URL", db_url)
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLYPHBOT_WORKER__RENDERER", "text")
    return db_url


def glyphbot(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_submit_list_work_show_cancel(configured: str) -> None:
    assert glyphbot("jobs", "submit", "HELLO\\nWORLD", "--steps", "5", "--key", "k") == (0, "job 1 queued, position 1\n")
    assert glyphbot("jobs", "submit", "HELLO\\nWORLD", "--steps", "5", "--key", "k") == (0, "job 1 queued, position 1\n")
    code, output = glyphbot("jobs", "submit", "OTHER", "--key", "k")  # same key, another request: refused, like the API's 409
    assert code == 1 and "idempotency key 'k' was already used for job 1 with a different request" in output
    glyphbot("jobs", "submit", "SECOND")
    code, output = glyphbot("jobs", "list")
    assert code == 0 and "SECOND" in output.splitlines()[0] and "HELLO⏎WORLD" in output.splitlines()[1]
    assert glyphbot("jobs", "cancel", "2")[1] == "job 2 cancelled\n"
    code, output = glyphbot("worker", "--exit-when-idle")
    assert code == 0, output
    code, output = glyphbot("jobs", "show", "1")
    assert code == 0 and "status: succeeded" in output and output.count(" image ") == 5 and "chosen" in output
    assert re.search(r"created_at: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\+00:00)?\n", output) and "datetime.datetime" not in output
    document = json.loads(glyphbot("jobs", "show", "1", "--json")[1])
    assert document["status"] == "succeeded" and len(document["images"]) == 5 and document["created_at"].startswith("20")


def test_submit_and_wait_writes_the_chosen_image(configured: str, tmp_path: Path) -> None:
    storage = open_storage()
    worker = Worker(storage.jobs, TextDrawingRenderer(), WorkerOptions(lease_s=10, heartbeat_s=1, poll_interval_s=0.02))
    thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1})
    thread.start()
    out = tmp_path / "hello.png"
    code, output = glyphbot("jobs", "submit", "HELLO", "--steps", "3", "--wait", "--out", str(out))
    thread.join()
    assert code == 0, output
    assert "job 1 succeeded" in output and out.read_bytes().startswith(b"\x89PNG")


def test_waiting_with_no_worker_says_how_to_start_one_and_stops(configured: str) -> None:
    started = time.monotonic()
    code, output = glyphbot("jobs", "submit", "HELLO", "--wait")
    assert time.monotonic() - started < 10, "it must not wait out --timeout"
    assert code == 1
    assert "no worker is running" in output and "glyphbot worker" in output and "--wait-for-worker" in output
    assert "status: queued" in glyphbot("jobs", "show", "1")[1]  # the job stays in the queue for a later worker


def test_wait_for_worker_keeps_waiting_until_one_starts(configured: str, tmp_path: Path) -> None:
    out = tmp_path / "hello.png"
    command = [str(Path(sys.executable).with_name("glyphbot")), "jobs", "submit", "HELLO", "--steps", "3", "--wait",
               "--wait-for-worker", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # the notice comes first; only then does a worker start
        seen.append(line)
        if "no worker is running" in line:
            break
    assert "waiting" in seen[-1], seen
    worker = Worker(open_storage().jobs, TextDrawingRenderer(), WorkerOptions(lease_s=10, heartbeat_s=1, poll_interval_s=0.02))
    thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1})
    thread.start()
    rest, _ = process.communicate(timeout=60)
    thread.join()
    assert process.returncode == 0, seen + [rest]
    assert "job 1 succeeded" in rest and out.read_bytes().startswith(b"\x89PNG")


def test_errors_are_one_clear_line(configured: str) -> None:
    assert glyphbot("jobs", "submit", "   ") == (1, "error: prompt is empty\n")
    assert glyphbot("jobs", "show", "42") == (1, "error: no job 42\n")
    assert glyphbot("jobs", "submit", "x", "--candidates", "99")[1] == "error: candidates 99 is outside 1..8\n"


def test_list_refuses_filters_that_match_nothing_by_construction(configured: str) -> None:
    code, output = glyphbot("jobs", "list", "--status", "done")
    assert code == 2 and "'done' is not one of" in output
    code, output = glyphbot("jobs", "list", "--source", "irc")
    assert code == 2 and "'irc' is not one of" in output
    glyphbot("jobs", "submit", "KEPT")
    glyphbot("jobs", "submit", "DROPPED")
    glyphbot("jobs", "cancel", "2")
    code, output = glyphbot("jobs", "list", "--status", "cancelled", "--status", "failed", "--source", "cli")
    assert code == 0 and "DROPPED" in output and "KEPT" not in output
    assert glyphbot("jobs", "list", "--source", "discord") == (0, "")


def test_worker_without_a_renderer_says_what_to_do(configured: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLYPHBOT_WORKER__RENDERER", "bot.no_such_module:Renderer")
    code, output = glyphbot("worker", "--exit-when-idle")
    assert code == 2 and "worker.renderer 'bot.no_such_module:Renderer' is not one of cascade, text, constant" in output


def test_bad_settings_and_unreachable_database_stop_commands_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLYPHBOT_WORKER__LEASE_S", "-5")
    assert glyphbot("jobs", "list") == (1, "error: invalid settings: worker.lease_s: Input should be greater than 0\n")
    monkeypatch.delenv("GLYPHBOT_WORKER__LEASE_S")
    monkeypatch.setenv("GLYPHBOT_DATABASE__URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("GLYPHBOT_DATABASE__BUSY_TIMEOUT_S", "1")
    code, output = glyphbot("db", "upgrade")
    assert code == 1 and output.startswith("error: database unavailable: ")


def test_db_upgrade_and_downgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLYPHBOT_DATABASE__URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    assert "needs `glyphbot db upgrade`" in glyphbot("db", "status")[1]
    assert glyphbot("db", "upgrade")[0] == 0
    assert "up to date" in glyphbot("db", "status")[1]
    assert glyphbot("db", "downgrade", "base") == (0, "at base (empty)\n")


@pytest.mark.parametrize(("variable", "setting"), [("GLYPHBOT_STORAGE__DATA_DIR", "storage.data_dir"), ("GLYPHBOT_STORAGE__IMAGES_DIR", "storage.images_dir")])
def test_an_unusable_data_folder_stops_commands_naming_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, setting: str) -> None:
    monkeypatch.delenv("GLYPHBOT_DATABASE__URL", raising=False)
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(variable, str(blocker / "folder"))
    assert glyphbot("jobs", "list") == (1, f"error: {setting}: cannot create {blocker / 'folder'}: Not a directory\n")


def test_submit_takes_every_generation_parameter_and_an_init_image(configured: str, tmp_path: Path) -> None:
    import io

    from PIL import Image

    start = tmp_path / "start.png"
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    start.write_bytes(buffer.getvalue())
    code, output = glyphbot(
        "jobs", "submit", "HELLO", "--negative", "blur", "--guidance", "3.5", "--sr-guidance", "1.5", "--steps", "9",
        "--sr-steps", "7", "--scheduler", "ddim", "--candidates", "2", "--seed", "11", "--image", str(start), "--strength", "0.4",
    )
    assert code == 0, output
    job = open_storage().jobs.get(1)
    assert (job.negative_prompt, job.guidance_scale, job.sr_guidance_scale, job.num_inference_steps, job.sr_num_inference_steps,
            job.scheduler, job.candidates, job.seed, job.strength) == ("blur", 3.5, 1.5, 9, 7, "ddim", 2, 11, 0.4)
    assert open_storage().images.read(job.init_image_hash) == start.read_bytes()
    start.write_bytes(b"not a png")
    assert glyphbot("jobs", "submit", "HELLO", "--image", str(start)) == (1, "error: the init image is not a PNG file\n")
