"""setup.sh against fake Debian tools on PATH: what it asks apt for when packages are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_apt_waits_a_bounded_time_for_a_busy_lock_and_says_so(tmp_path: Path) -> None:
    checkout, bin_dir, calls = tmp_path / "checkout", tmp_path / "bin", tmp_path / "apt-calls"
    checkout.mkdir()
    bin_dir.mkdir()
    shutil.copy(REPO / "setup.sh", checkout)
    (checkout / "pyproject.toml").write_text("")
    (checkout / ".venv" / "bin").mkdir(parents=True)
    _tool(checkout / ".venv" / "bin", "python", "exit 0")
    (checkout / ".venv" / ".glyphbot-installed").touch()  # installed already: only the system packages are checked
    _tool(bin_dir, "dpkg", "exit 1")  # every package missing
    _tool(bin_dir, "apt-get", f'echo "$@" >> {calls}')
    _tool(bin_dir, "sudo", '"$@"')
    done = subprocess.run(["bash", str(checkout / "setup.sh")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    update, install = calls.read_text().splitlines()
    for command in (update, install):
        assert "-o DPkg::Lock::Timeout=600" in command, command
    assert update.endswith("update -qq")
    assert "fonts-dejavu-core" in install
    assert "setup waits up to 600 s" in done.stdout, done.stdout
