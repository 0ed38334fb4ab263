"""`glyphbot style learn NAME IMAGE...`: learn a style from example pictures and keep it in the style store.

Each example's text comes from a .txt file beside it (photo.png -> photo.txt) or, without one, from
OCR; the style must learn the look, not the words (generation.styles). The examples themselves go
into the image store, and the style's row records their hashes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from bot.cli.app import USAGE_ERROR, fail, no_such_file, reported_errors
from generation.request_parsers import png_bytes


def learn(
    name: str = typer.Argument(..., help="The style's name (lowercase letters, digits, - and _; up to 32)."),
    images: list[Path] = typer.Argument(..., help="3 to 20 example pictures; a .txt beside one holds its text (else OCR reads it)."),
    steps: int = typer.Option(300, "--steps", help="Optimiser steps (about 0.2 s each for 5 examples on 2 cores)."),
    replace: bool = typer.Option(False, "--replace", help="Learn again over an existing style of this name."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch (default: all cores)."),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Folder with the base/ checkpoint the style is for."),
) -> None:
    """Learn a style (a few new input vectors of the text encoder, and the examples' palette) from example pictures."""
    from config.settings import SettingsError, load_settings
    from generation.checkpoints import CheckpointMissingError, locate_checkpoints

    from storage.errors import InvalidJob, StyleNotFound
    from storage.validation import check_style_name

    for path in images:
        if not path.exists():  # anything else that is not a picture file is named by the picture gate below
            fail(no_such_file(path))
    try:
        check_style_name(name)
        settings = load_settings()
        shipped = locate_checkpoints(checkpoint_dir or settings.generation.checkpoint_dir)
    except (SettingsError, CheckpointMissingError, InvalidJob) as error:
        fail(str(error), USAGE_ERROR)
    if not replace:  # a taken name is refused now, not after minutes of learning
        from storage.facade import open_storage

        with reported_errors():
            try:
                taken = open_storage(settings).styles.get(name)
            except StyleNotFound:
                taken = None
        if taken is not None:
            fail(f"there is already a style {name!r} (learned by {taken.creator}); pass --replace to learn it again")

    from PIL import Image

    from ocr.imageio import ImageReadError, load_frames

    # The pictures pass the picture gate before torch is imported (generation.styles): a bad file is
    # refused in a second, and a process that refuses one never grows by torch's few hundred MB.
    pictures: list[Image.Image] = []
    for path in images:
        try:
            pictures.append(load_frames(path, max_frames=1)[0].convert("RGB"))
        except ImageReadError as error:
            fail(str(error), USAGE_ERROR)  # the message names the file already
    from generation.styles import MAX_EXAMPLES, MIN_EXAMPLES, StyleExample, UnusableStyleError, check_examples

    if not MIN_EXAMPLES <= len(images) <= MAX_EXAMPLES:
        fail(f"a style is learned from {MIN_EXAMPLES} to {MAX_EXAMPLES} example pictures; got {len(images)}", USAGE_ERROR)
    reader = None
    examples = []
    for path, picture in zip(images, pictures):
        beside = path.with_suffix(".txt")  # the example's text, else what OCR reads (one reader for all)
        if beside.is_file():
            transcript = beside.read_text(encoding="utf-8").strip()
        else:
            if reader is None:
                from ocr.policy import OcrSettings

                reader = OcrSettings.from_config(settings.ocr.model_dump()).reader()
            transcript = reader.read(picture).text.strip()
        examples.append(StyleExample(picture, transcript, str(path)))
    try:
        check_examples(examples)
    except UnusableStyleError as error:
        fail(str(error), USAGE_ERROR)

    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from generation.pipeline import GlyphCascadePipeline
    from generation.styles import learn_style
    from storage.facade import open_storage

    if threads:
        torch.set_num_threads(threads)
    pipeline = GlyphCascadePipeline.from_checkpoints(shipped.base, None)
    started = time.perf_counter()
    with Progress(TextColumn("learning style {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn()) as bar:
        task = bar.add_task("learn", total=steps, name=name, loss=float("nan"))
        try:
            style = learn_style(
                name, pipeline.base_unet, pipeline.base_scheduler, pipeline.tokenizer, examples, steps=steps,
                progress=lambda step, loss: bar.update(task, completed=step, loss=loss),
            )
        except UnusableStyleError as error:
            fail(str(error), USAGE_ERROR)
    seconds = time.perf_counter() - started
    import getpass

    with reported_errors():
        storage = open_storage(settings)
        hashes = [storage.images.put(png_bytes(picture)) for picture in pictures]
        record = storage.styles.add(
            name, getpass.getuser(), hashes, style.steps, style.loss, style.to_bytes(), style.model_hash, replace=replace
        )
    typer.echo(json.dumps({
        "style": record.name, "examples": len(examples), "steps": style.steps, "loss": round(style.loss, 5),
        "seconds": round(seconds, 1), "transcripts": [example.transcript for example in examples],
        "file": str(storage.styles.path(record.name)),
    }, indent=2))

