"""Issue 22 through the command line: every hostile picture file, /dev/zero, a FIFO and a directory, given
to every command that takes a picture path, is one `error:` line and a non-zero exit; nothing is queued,
and the process does not grow by hundreds of MB reading it."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.hostile_pictures import hostile_files

# Each command with `{picture}` where the hostile path goes.
COMMANDS = {
    "imagine --image": ["imagine", "OPEN", "--image", "{picture}", "--out", "{out}"],
    "imagine --style-image": ["imagine", "OPEN", "--style-image", "{picture}", "--out", "{out}"],
    "jobs submit --image": ["jobs", "submit", "OPEN", "--image", "{picture}"],
    "jobs submit --style-image": ["jobs", "submit", "OPEN", "--style-image", "{picture}"],
    "read": ["read", "{picture}"],
    "style learn": ["style", "learn", "hostile", "{picture}", "{picture}", "{picture}"],
}


@pytest.fixture(autouse=True)
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLYPHBOT_DATABASE__URL", raising=False)
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hostile_files(tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_hostile_picture_is_one_line_and_nothing_is_queued(command: str, files: dict[str, Path], tmp_path: Path) -> None:
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, path in files.items():
        out = tmp_path / "out.png"
        result = CliRunner().invoke(app, [part.format(picture=path, out=out) for part in COMMANDS[command]])
        assert result.exit_code != 0, (name, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, result.output)
        assert "Traceback" not in result.output and not out.exists(), name
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - grown_kb) / 1024
    assert grown_mb < 300, f"{command} grew the process by {grown_mb:.0f} MB"
    data = tmp_path / "data"
    if (data / "glyphbot.db").exists():
        from storage.facade import open_storage

        assert open_storage().jobs.list().jobs == [], "nothing is queued"
