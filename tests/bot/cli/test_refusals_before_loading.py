"""`glyphbot imagine` refuses what needs no model before it imports torch: a prompt over the limit, an
option out of range, a transcript no layout can draw legibly, an unknown font. Each is one line, exit 2,
and nothing is queued. Run as a real process, so that what it imported can be seen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# Runs the console script's entry point and reports, at exit, whether torch was ever imported.
PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('torch imported\\n' if 'torch' in sys.modules else 'torch not imported\\n'))\n"
    "sys.argv = ['glyphbot', *sys.argv[1:]]\n"
    "from bot.cli import main\n"
    "main()\n"
)


@pytest.mark.parametrize("args, message", [
    (["x" * 400], "prompt has 400 characters; the limit is 380"),
    (["HI", "--steps", "0"], "inference steps 0 is outside"),
    (["HI", "--template", "billboard"], "template 'billboard' is not one of card, tweet"),
    (["HI", "--scheduler", "euler"], "scheduler 'euler' is not one of ddpm"),
    (["x" * 120, "--template", "card", "--font", "DejaVuSans"], "too large to be legible"),
    (["HI", "--font", "NoSuchFont"], "unknown font 'NoSuchFont'"),
    (["bell\x07"], "unsupported character U+0007"),
])
def test_a_request_refused_without_the_model_never_imports_torch(tmp_path: Path, args: list[str], message: str) -> None:
    env = {**os.environ, "GLYPHBOT_STORAGE__DATA_DIR": str(tmp_path / "data")}
    env.pop("GLYPHBOT_DATABASE__URL", None)
    done = subprocess.run([sys.executable, "-c", PROBE, "imagine", *args, "--out", str(tmp_path / "x.png")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    error, imported = done.stderr.splitlines()
    assert error.startswith("error: ") and message in error
    assert imported == "torch not imported"
    assert done.stdout == "" and not (tmp_path / "data").exists() and not (tmp_path / "x.png").exists()
