"""`glyphbot style list/delete` and the style, photo and tween options of `glyphbot jobs submit`, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.worker import Worker, WorkerOptions
from bot.render.model_free import TextDrawingRenderer
from storage.facade import open_storage
from storage.moderation import Moderation
# The storage tests' databases: a SQLite file, and a throwaway PostgreSQL database.
from tests.storage.fixtures import EXAMPLES, db_url, pg_databases, pg_session_url, png_of, safetensors_blob  # noqa: F401


@pytest.fixture
def configured(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    monkeypatch.setenv("GLYPHBOT_DATABASE__URL", db_url)
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    return db_url


def glyphbot(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_list_and_delete_styles(configured: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert glyphbot("style", "list") == (0, "no styles yet (learn one with `glyphbot style learn NAME IMAGE...`)\n")
    storage = open_storage()
    for name, method in (("zinc", "lora"), ("amber", "vectors")):
        storage.styles.add(name, "alice", EXAMPLES, 150, 0.03125, safetensors_blob(), "m", method=method)
    code, output = glyphbot("style", "list")
    lines = output.splitlines()
    assert code == 0 and lines[0].startswith("name") and lines[1].startswith("amber") and lines[2].startswith("zinc")
    assert "alice" in lines[1] and "150" in lines[1] and "0.0312" in lines[1] and lines[1].endswith("5")
    assert [line.split()[1] for line in lines] == ["method", "vectors", "lora"]
    monkeypatch.setattr("getpass.getuser", lambda: "root-mod")
    code, output = glyphbot("style", "delete", "amber", "--reason", "a logo")
    assert code == 0 and "deleted style 'amber'" in output
    assert not storage.styles.path("amber").exists()
    [entry] = Moderation(storage.db).audit_log()
    assert (entry.moderator, entry.action, entry.detail["reason"]) == ("root-mod", "style.delete", "a logo")
    code, output = glyphbot("style", "delete", "amber")
    assert code == 1 and "style 'amber' was deleted by root-mod on" in output
    code, output = glyphbot("style", "delete", "nope")
    assert code == 1 and "there is no style 'nope'" in output
    code, output = glyphbot("style", "delete", "Bad Name")
    assert code == 1 and "must be 1 to 32 characters" in output
    storage.close()


def test_submit_refuses_bad_new_options_with_one_line(configured: str, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_of(640, 480))
    cases = [
        (["--style", "nope"], "there is no style 'nope'"),
        (["--kind", "tween", "--end-prompt", "OPEN"], "the tween's two ends are the same text"),
        (["--kind", "tween", "--end-prompt", "SHUT", "--frames", "99"], "frames 99 is outside 2..48"),
        (["--image", str(photo), "--box", "10,10,900,50"], "box 10,10,900,50 reaches past the picture's right edge (640 px wide)"),
        (["--box", "1,2,3,4"], "give the picture too"),
        (["--style-image", str(tmp_path / "missing.png")], "missing.png: no such file"),
    ]
    for options, message in cases:
        code, output = glyphbot("jobs", "submit", "OPEN", *options)
        assert code == 1 and message in output and "Traceback" not in output, (options, output)
    for box in ("1,2,3", "--4,0,10,10", "0,0,\u00b2,10", "\u0664,0,10,10"):  # the same one line as imagine's
        code, output = glyphbot("jobs", "submit", "OPEN", "--image", str(photo), "--box", box)
        assert code == 2 and output == f"error: --box: a box is four whole numbers X,Y,W,H (left, top, width, height in pixels), not {box!r}\n"
    code, output = glyphbot("jobs", "submit", "OPEN", "--kind", "morph")
    assert code == 2
    assert glyphbot("jobs", "list")[1] == ""


def test_submit_a_tween_and_a_styled_job_in_a_box(configured: str, tmp_path: Path) -> None:
    storage = open_storage()
    storage.styles.add("red", "alice", EXAMPLES, 10, 0.5, safetensors_blob(), "m")
    photo, reference = tmp_path / "photo.png", tmp_path / "ref.png"
    photo.write_bytes(png_of(120, 80))
    reference.write_bytes(png_of(16, 16))
    code, output = glyphbot("jobs", "submit", "SALE", "--image", str(photo), "--box", "10,20,60,30", "--style", "red",
                            "--style-image", str(reference), "--style-strength", "0.9")
    assert code == 0, output
    job = storage.jobs.get(1)
    assert (job.box, job.style, job.style_strength, storage.images.read(job.style_image_hash)) == (
        "10,20,60,30", "red", 0.9, reference.read_bytes())
    storage.jobs.cancel(1)
    worker = Worker(storage.jobs, TextDrawingRenderer(), WorkerOptions(lease_s=10, heartbeat_s=1, poll_interval_s=0.02))
    thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1})
    thread.start()
    out = tmp_path / "morph.gif"
    code, output = glyphbot("jobs", "submit", "OPEN", "--kind", "tween", "--end-prompt", "CLOSED", "--frames", "3",
                            "--wait", "--out", str(out))
    thread.join()
    assert code == 0, output
    assert "job 2 succeeded" in output and out.read_bytes().startswith(b"GIF89a")
    storage.close()
