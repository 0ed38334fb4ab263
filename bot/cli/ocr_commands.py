"""OCR command: `read` (how the bot sees a picture). The reader's benchmarks (`bench ocr`, `bench ocr-validate`,
`bench text-accuracy`) are in bench_commands.py.

The OCR stack (numpy, pytesseract) is imported inside the command so `glyphbot --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.cli.app import app, no_such_file

if TYPE_CHECKING:
    from ocr.reader import Reader, Reading


@app.command("read")
def read_command(
    images: list[Path] = typer.Argument(..., help="Image files (PNG, JPEG, GIF, WebP, ...); animated GIFs are read frame by frame."),
    as_json: bool = typer.Option(False, "--json", help="Print text, lines, boxes and confidences as JSON."),
    min_confidence: float = typer.Option(65.0, help="Ignore lines whose mean word confidence (0-100) is lower."),
    corner_margin: float = typer.Option(0.05, help="Ignore text tucked within this fraction of a corner (0 disables)."),
    psm: int = typer.Option(6, help="tesseract page segmentation mode (6: one block of text, 11: sparse text)."),
) -> None:
    """Print each image's transcript in the bot's ======= format (exit code 1 if any image was unreadable)."""
    from ocr.reader import Reader

    reader = _make_reader(Reader, min_line_confidence=min_confidence, corner_margin=corner_margin, psm=psm)
    # A missing file is reported in its place, like an unreadable one; the reader gets the others.
    exists = {path: path.exists() for path in images}
    readings = iter(reader.read_each([path for path in images if exists[path]]))
    outcomes = [next(readings) if exists[path] else FileNotFoundError(no_such_file(path)) for path in images]
    failed = False
    records = []
    for path, outcome in zip(images, outcomes):
        if isinstance(outcome, Exception):
            failed = True
            records.append({"path": str(path), "error": str(outcome)})
            if not as_json:
                typer.secho(f"error: {outcome}", fg=typer.colors.RED, err=True)
            continue
        records.append({"path": str(path), **outcome.to_dict()})
        if not as_json:
            typer.echo(_as_transcript(path, outcome, named=len(images) > 1), nl=False)
    if as_json:
        typer.echo(json.dumps(records, indent=2, ensure_ascii=False))
    if failed:
        raise typer.Exit(1)


def _make_reader(reader_cls: type[Reader], **kwargs: float) -> Reader:
    try:
        return reader_cls(**kwargs)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _as_transcript(path: Path, reading: Reading, named: bool) -> str:
    from ocr.transcripts import DELIMITER, format_transcript

    # A line of seven '=' read off an image would end the block early; it carries no text, so drop it.
    text = "\n".join(line for line in reading.text.split("\n") if line.strip() != DELIMITER)
    return (f"{path}:\n" if named else "") + format_transcript(text)
