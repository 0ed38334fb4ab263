"""A file that does not exist, named to any command that reads one: one line naming it and exit 1,
as for a corrupt or empty file, never a traceback or a usage box."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from ocr.fontrender import render_text
from ocr.transcripts import format_transcript


@pytest.fixture(autouse=True)
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLYPHBOT_DATABASE__URL", raising=False)
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLYPHBOT_TUMBLR__BLOG", "glyphbot-test")


@pytest.mark.parametrize("command", [
    ["read", "{missing}"],
    ["jobs", "submit", "HELLO", "--image", "{missing}"],
    ["tumblr", "submit", "{missing}"],
    ["bench", "text-accuracy", "--prompts", "{missing}"],
], ids=lambda command: " ".join(command[:2]))
def test_a_missing_input_file_is_one_line_naming_it(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    result = CliRunner().invoke(app, [part.format(missing=missing) for part in command])
    assert (result.exit_code, result.output) == (1, f"error: {missing}: no such file\n")


def test_read_still_reads_the_images_that_exist(tmp_path: Path) -> None:
    sign, missing = tmp_path / "sign.png", tmp_path / "missing.png"
    render_text("OPEN", 256, max_font_px=40).save(sign)
    result = CliRunner().invoke(app, ["read", str(missing), str(sign)])
    assert result.exit_code == 1
    assert result.stderr == f"error: {missing}: no such file\n"
    assert result.stdout == f"{sign}:\n" + format_transcript("OPEN")


def test_the_console_script_reports_a_missing_file_of_any_command(tmp_path: Path) -> None:
    """Commands that reach a missing file deep inside (here the training data folder) get the same
    one line from the entry point."""
    missing = tmp_path / "no-such-folder"
    glyphbot = Path(sys.executable).with_name("glyphbot")
    done = subprocess.run([str(glyphbot), "train", "base", "--output", str(tmp_path / "run"), "--folder-dataset", str(missing),
                           "--steps", "1"], capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.splitlines()) == 1 and str(missing) in done.stderr and "Traceback" not in done.stderr, done.stderr
