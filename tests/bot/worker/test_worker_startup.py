"""`glyphbot worker` with the default renderer (the trained cascade): refusing to start without a
checkpoint or a device, and rendering end to end on the embedded defaults with a tiny trained one."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.facade import open_storage

CONFIGS = Path(__file__).resolve().parents[3] / "generation" / "configs"


def glyphbot(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No settings at all but the ones a test sets: SQLite and images under ./data of a fresh folder."""
    for name in list(os.environ):
        if name.startswith("GLYPHBOT_") and name != "GLYPHBOT_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def tiny_checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base checkpoint as `glyphbot train` ships it (one step on the tiny config: untrained, but real)."""
    run = tmp_path_factory.mktemp("train")
    code, output = glyphbot(
        "train", "base", "--config", str(CONFIGS / "tiny-base.json"), "--output", str(run), "--steps", "1",
        "--batch-size", "1", "--warmup-steps", "1", "--max-lines", "1", "--max-chars", "4", "--max-line-chars", "4",
    )
    assert code == 0, output
    checkpoints = run / "checkpoints"
    checkpoints.mkdir()
    (run / "model").rename(checkpoints / "base")
    return checkpoints


def test_worker_without_a_checkpoint_stops_at_start_and_the_queue_keeps_its_jobs(embedded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLYPHBOT_GENERATION__CHECKPOINT_DIR", str(embedded / "no-checkpoints"))
    assert glyphbot("jobs", "submit", "HELLO")[0] == 0
    code, output = glyphbot("worker")  # no --exit-when-idle: it must stop by itself, not loop over jobs
    assert code == 2, output
    assert "no trained checkpoint to render with" in output
    assert f"no trained base checkpoint in {embedded / 'no-checkpoints' / 'base'}" in output
    job = open_storage().jobs.get(1)
    assert (job.status, job.attempts, job.worker_id) == ("queued", 0, None)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has the GPU the test asks for")
def test_worker_on_a_missing_device_stops_at_start(embedded: Path, tiny_checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLYPHBOT_GENERATION__CHECKPOINT_DIR", str(tiny_checkpoint_dir))
    monkeypatch.setenv("GLYPHBOT_GENERATION__DEVICE", "cuda")
    code, output = glyphbot("worker")
    assert code == 2, output
    assert "cannot start renderer 'cascade'" in output and "no CUDA GPU" in output


def test_submit_then_worker_on_the_embedded_defaults_with_a_trained_checkpoint(embedded: Path, tiny_checkpoint_dir: Path) -> None:
    assert glyphbot("jobs", "submit", "HI", "--steps", "2", "--candidates", "2", "--seed", "5") == (0, "job 1 queued, position 1\n")
    code, output = glyphbot("worker", "--exit-when-idle", "--checkpoint-dir", str(tiny_checkpoint_dir))
    assert code == 0, output
    code, output = glyphbot("jobs", "show", "1")
    assert code == 0 and "status: succeeded" in output, output
    assert (embedded / "data" / "glyphbot.db").is_file()
    images = re.findall(r"image \d+ base seed (\d+) 16x16 (\S+) ocr [0-9.]+", output)
    assert [seed for seed, _ in images] == ["5", "6"] and output.count(" chosen") == 1
    for _, path in images:
        assert Path(path).resolve().is_relative_to(embedded / "data" / "images") and Path(path).read_bytes().startswith(b"\x89PNG")
