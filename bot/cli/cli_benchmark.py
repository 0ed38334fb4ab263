"""`glyphbot bench cli`: how long whole `glyphbot` processes take, beside `python -c "import torch"`
measured in the same run, so the figures mean the same on a busy and an idle machine.

A person waits for the whole process, not for the model: interpreter start, imports, database, loading
the checkpoints, drawing and OCR. Every row is a fresh process in a scratch data folder (embedded SQLite),
timed by wall clock; the median of the repeats is shown. For `imagine`, the job's own render time (the
worker's start to finish: model and OCR) comes from its history, so the overhead is the difference.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import typer

from bot.cli.app import bench_app

LONG_PROMPT = "x" * 400  # over the 380-character limit: refused


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    return time.perf_counter() - started, done


@bench_app.command("cli")
def bench_cli(
    repeats: int = typer.Option(3, min=1, help="Processes per row; the median is shown."),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Checkpoints for the imagine row (default: the shipped ones)."),
) -> None:
    """Seconds per whole glyphbot process (help, jobs list, a refused imagine, imagine HELLO with 1 candidate)
    beside `python -c "import torch"`, all measured in this run."""
    from rich.console import Console
    from rich.table import Table

    glyphbot = [sys.executable, "-c", "from bot.cli import main; main()"]
    imagine_options = ["--checkpoint-dir", str(checkpoint_dir)] if checkpoint_dir else []
    with tempfile.TemporaryDirectory(prefix="glyphbot-bench-cli-") as scratch:
        env = {**os.environ, "GLYPHBOT_STORAGE__DATA_DIR": str(Path(scratch) / "data")}
        env.pop("GLYPHBOT_DATABASE__URL", None)
        rows = {
            'python -c "import torch" (baseline)': [sys.executable, "-c", "import torch"],
            "glyphbot --help": [*glyphbot, "--help"],
            "glyphbot jobs list": [*glyphbot, "jobs", "list"],
            "glyphbot imagine <400 characters> (refused)": [*glyphbot, "imagine", LONG_PROMPT, "--out", f"{scratch}/x.png"],
            "glyphbot imagine HELLO --candidates 1": [*glyphbot, "imagine", "HELLO", "--candidates", "1", "--seed", "0",
                                                      "--out", f"{scratch}/hello.png", "--json", *imagine_options],
        }
        table = Table(title=f"Whole processes, median of {repeats} (seconds, wall clock)")
        for column in ("command", "seconds", "exit"):
            table.add_column(column, justify="left" if column == "command" else "right")
        render_s: list[float] = []
        for name, command in rows.items():
            seconds, codes = [], set()
            for _ in range(repeats):
                elapsed, done = _timed(command, env)
                seconds.append(elapsed)
                codes.add(done.returncode)
                if "imagine HELLO" in name and done.returncode == 0:
                    job = json.loads(done.stdout)["job"]
                    shown = subprocess.run([*glyphbot, "jobs", "show", str(job), "--json"], env=env, capture_output=True, text=True, timeout=120)
                    fields = json.loads(shown.stdout)
                    started, finished = (_iso(fields[key]) for key in ("started_at", "finished_at"))
                    render_s.append(finished - started)
            table.add_row(name, f"{statistics.median(seconds):.2f}", ",".join(str(code) for code in sorted(codes)))
        if render_s:
            table.add_row("  of which the job's render (model + OCR)", f"{statistics.median(render_s):.2f}", "")
        Console().print(table)


def _iso(text: str) -> float:
    """A job's ISO 8601 time as seconds since the epoch."""
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()
