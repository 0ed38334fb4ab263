"""`glyphbot style learn NAME IMAGE...` and `glyphbot style relearn NAME|--all`: learn a style from
example pictures (LoRA adapters or textual-inversion vectors, generation.styles) and keep it in the
style store.

Each example's text comes from a .txt file beside it (photo.png -> photo.txt) or, without one, from
OCR; the style must learn the look, not the words. The examples themselves go into the image store,
the style's row records their hashes, and the style file keeps their transcripts, so `relearn` can
learn the style again on a new shipped model from what is stored (a worker refuses a style learned on
other weights, naming `relearn`).
"""

from __future__ import annotations

import getpass
import io
import json
import time
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from bot.cli.app import USAGE_ERROR, fail, no_such_file, reported_errors
from generation.request_parsers import png_bytes
from generation.types import STYLE_METHODS

if TYPE_CHECKING:
    from PIL import Image

    from config.settings import Settings
    from generation.styles import StyleExample, StyleTokens

DEFAULT_METHOD = "lora"  # measured against vectors with `glyphbot bench look` (README, "Styles")


def learn(
    name: str = typer.Argument(..., help="The style's name (lowercase letters, digits, - and _; up to 32)."),
    images: list[Path] = typer.Argument(..., help="3 to 20 example pictures; a .txt beside one holds its text (else OCR reads it)."),
    method: str = typer.Option(DEFAULT_METHOD, "--method", help="lora (adapters on the base U-Net) or vectors (textual inversion)."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Optimiser steps (default: 300 for either method)."),
    rank: Optional[int] = typer.Option(None, "--rank", min=1, max=64, help="lora: the adapters' rank (default: 4)."),
    prior_weight: Optional[float] = typer.Option(None, "--prior-weight", min=0.0, help="lora: weight of the prior-preservation loss (default: 1; 0: none)."),
    sr_steps: Optional[int] = typer.Option(None, "--sr-steps", min=0, help="lora: steps for the SR stage's adapters, where texture is drawn (default: 100; 0: none)."),
    replace: bool = typer.Option(False, "--replace", help="Learn again over an existing style of this name."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch (default: all cores)."),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Folder with the base/ and sr/ checkpoints the style is for."),
) -> None:
    """Learn a style from example pictures: LoRA adapters on both stages (the default) or a few input
    vectors of the text encoder, and the examples' palette that sampling steers towards."""
    from config.settings import SettingsError, load_settings
    from generation.checkpoints import CheckpointMissingError, locate_checkpoints
    from storage.errors import InvalidJob, StyleNotFound
    from storage.validation import check_style_name

    for path in images:
        if not path.exists():  # anything else that is not a picture file is named by the picture gate below
            fail(no_such_file(path))
    if method not in STYLE_METHODS:
        fail(f"--method must be one of {', '.join(STYLE_METHODS)}, not {method!r}", USAGE_ERROR)
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

    from ocr.imageio import ImageReadError, load_frames

    # The pictures pass the picture gate before torch is imported (generation.styles): a bad file is
    # refused in a second, and a process that refuses one never grows by torch's few hundred MB.
    pictures: list[Image.Image] = []
    for path in images:
        try:
            pictures.append(load_frames(path, max_frames=1)[0].convert("RGB"))
        except ImageReadError as error:
            fail(str(error), USAGE_ERROR)  # the message names the file already
    texts = [path.with_suffix(".txt") for path in images]
    transcripts = [beside.read_text(encoding="utf-8").strip() if beside.is_file() else None for beside in texts]
    examples = _examples(settings, pictures, transcripts, [str(path) for path in images])
    options = _Options(method, steps, rank, prior_weight, sr_steps)
    style, seconds = _learn_with_progress(_load_models(shipped, threads), name, examples, options)
    from storage.facade import open_storage

    with reported_errors():
        record, file = _store(open_storage(settings), style, pictures, replace)
    typer.echo(json.dumps({
        "style": record.name, "method": style.method, "examples": len(examples), "steps": style.steps,
        "sr_steps": style.sr_steps, "loss": round(style.loss, 5), "seconds": round(seconds, 1), "transcripts": list(style.transcripts),
        "file": str(file), "file_bytes": file.stat().st_size,
    }, indent=2))


def relearn(
    name: Optional[str] = typer.Argument(None, help="The style to learn again (or --all)."),
    every: bool = typer.Option(False, "--all", help="Every style learned on other models than the shipped ones."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch (default: all cores)."),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Folder with the base/ and sr/ checkpoints the style is for."),
) -> None:
    """Learn a style again on the shipped model from its stored examples, with its method and steps
    (a style learned on another model is refused by the workers until then)."""
    from config.settings import SettingsError, load_settings
    from generation.checkpoints import CheckpointMissingError, locate_checkpoints

    if (name is None) == (not every):
        fail("give a style's NAME or --all (one of them)", USAGE_ERROR)
    try:
        settings = load_settings()
        shipped = locate_checkpoints(checkpoint_dir or settings.generation.checkpoint_dir)
    except (SettingsError, CheckpointMissingError) as error:
        fail(str(error), USAGE_ERROR)
    from storage.facade import open_storage

    with reported_errors():
        storage = open_storage(settings)
        records = storage.styles.list() if every else [storage.styles.get(name)]
    from PIL import Image

    from generation.styles import model_hashes

    pipeline = _load_models(shipped, threads)  # one load for every style: learning leaves the models as they were
    # A style records the base model's hash, or the base and SR models' for one that adapts both.
    current = set(model_hashes(pipeline.base_unet, pipeline.sr_unet)) - {None}
    stale = [record for record in records if not every or record.model_hash not in current]
    if not stale:
        typer.echo("every style was learned on the shipped models; nothing to learn again")
        return
    for record in stale:
        with reported_errors():
            pictures = [Image.open(io.BytesIO(storage.images.read(digest))).convert("RGB") for digest in record.example_hashes]
        old = _readable_style(storage, record.name)
        transcripts = list(old.transcripts) if old is not None and len(old.transcripts) == len(pictures) else [None] * len(pictures)
        examples = _examples(settings, pictures, transcripts, [f"{digest[:12]} (stored)" for digest in record.example_hashes])
        options = _Options(record.method, record.steps, old.rank if old is not None and old.rank else None, None,
                           old.sr_steps if old is not None else 0)
        style, seconds = _learn_with_progress(pipeline, record.name, examples, options)
        with reported_errors():
            _store(storage, style, pictures, replace=True, creator=record.creator)
        typer.echo(f"learned {record.name!r} again ({style.method}, {style.steps} steps, {seconds:.0f} s) on models {style.model_hash}")


@dataclass(frozen=True)
class _Options:
    """How a style is learned: its method, steps, LoRA rank and prior weight, and SR steps (None: the
    defaults, resolved where the style is learned; 0 SR steps: no SR adapter)."""

    method: str
    steps: int | None
    rank: int | None
    prior_weight: float | None
    sr_steps: int | None


def _examples(settings: Settings, pictures: list[Image.Image], transcripts: list[str | None], labels: list[str]) -> list[StyleExample]:
    """The examples with their text: the given transcript, else what OCR reads (one reader for all);
    refuses the set (one line) when it cannot be learned from."""
    from generation.styles import MAX_EXAMPLES, MIN_EXAMPLES, StyleExample, UnusableStyleError, check_examples

    if not MIN_EXAMPLES <= len(pictures) <= MAX_EXAMPLES:
        fail(f"a style is learned from {MIN_EXAMPLES} to {MAX_EXAMPLES} example pictures; got {len(pictures)}", USAGE_ERROR)
    reader = None
    examples = []
    for picture, transcript, label in zip(pictures, transcripts, labels, strict=True):
        if transcript is None:
            if reader is None:
                from ocr.policy import OcrSettings

                reader = OcrSettings.from_config(settings.ocr.model_dump()).reader()
            transcript = reader.read(picture).text.strip()
        examples.append(StyleExample(picture, transcript, label))
    try:
        check_examples(examples)
    except UnusableStyleError as error:
        fail(str(error), USAGE_ERROR)
    return examples


def _load_models(shipped, threads: int | None):  # noqa: ANN001, ANN202  ShippedCheckpoints -> GlyphCascadePipeline (torch is imported here)
    """The models a style is learned for (the base, and the SR stage where there is one), on `threads`
    CPU threads (default: torch's)."""
    import torch

    from generation.pipeline import GlyphCascadePipeline

    if threads:
        torch.set_num_threads(threads)
    pipeline = GlyphCascadePipeline.from_checkpoints(shipped.base, shipped.sr)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _learn_with_progress(pipeline, name: str, examples: list[StyleExample], options: _Options) -> tuple[StyleTokens, float]:  # noqa: ANN001
    """Learn the style on the loaded `pipeline` with a progress bar (for LoRA: the prior pictures first,
    the base adapters, then the SR stage's)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from generation.style_adapters import (
        DEFAULT_PRIOR_COUNT, DEFAULT_PRIOR_STEPS, DEFAULT_PRIOR_WEIGHT, DEFAULT_RANK, DEFAULT_SR_LORA_STEPS, draw_prior, engine_prior,
    )
    from generation.styles import DEFAULT_STEPS, SuperResolutionPlan, UnusableStyleError, example_grain, learn_lora_style, learn_style

    steps = options.steps or DEFAULT_STEPS
    sr_steps = DEFAULT_SR_LORA_STEPS if options.sr_steps is None else options.sr_steps
    rank = options.rank or DEFAULT_RANK
    prior_weight = DEFAULT_PRIOR_WEIGHT if options.prior_weight is None else options.prior_weight
    unet, scheduler, tokenizer = pipeline.base_unet, pipeline.base_scheduler, pipeline.tokenizer
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[loss]}"), TimeElapsedColumn()) as bar:
        task = bar.add_task(f"learning style {name} ({options.method})", total=steps, loss="")

        def report(step: int, loss: float) -> None:
            bar.update(task, completed=step, loss=f"loss {loss:.4f}")

        try:
            if options.method == "vectors":
                style = learn_style(name, unet, scheduler, tokenizer, examples, steps=steps, progress=report)
            else:
                prior = None
                if prior_weight > 0:
                    drawing = bar.add_task(f"drawing {DEFAULT_PRIOR_COUNT} prior pictures", total=DEFAULT_PRIOR_STEPS, loss="")
                    prior = draw_prior(pipeline, progress=lambda step: bar.update(drawing, completed=step))
                sr = None
                if sr_steps and pipeline.sr_unet is not None:
                    sr_task = bar.add_task(f"learning style {name} (lora, SR stage)", total=sr_steps, loss="")
                    sr = SuperResolutionPlan(
                        pipeline.sr_unet, pipeline.sr_scheduler, engine_prior(pipeline.sr_unet) if prior_weight > 0 else None,
                        sr_steps, lambda step, loss: bar.update(sr_task, completed=step, loss=f"loss {loss:.4f}"),
                    )
                style = learn_lora_style(name, unet, scheduler, tokenizer, examples, prior, steps=steps, rank=rank,
                                         prior_weight=prior_weight, progress=report, sr=sr)
        except UnusableStyleError as error:
            fail(str(error), USAGE_ERROR)
    final_size = (pipeline.sr_unet or unet).config.sample_size
    style = dataclasses.replace(style, grain=example_grain(examples, final_size))  # synthesised on each final picture
    return style, time.perf_counter() - started


def _readable_style(storage, name: str) -> StyleTokens | None:  # noqa: ANN001  storage.facade.Storage
    """A stored style's current file, for its examples' transcripts and rank; None when it is missing or
    unreadable (then OCR reads the examples again)."""
    from generation.styles import StyleTokens, UnusableStyleError
    from storage.errors import StyleError

    try:
        return StyleTokens.from_bytes(storage.styles.tokens(name))
    except (StyleError, UnusableStyleError):
        return None


def _store(storage, style: StyleTokens, pictures: list[Image.Image], replace: bool, creator: str | None = None):  # noqa: ANN001, ANN202
    """Keep the examples and the style in `storage` (storage.facade.Storage); the style's record and the
    path of its file."""
    hashes = [storage.images.put(png_bytes(picture)) for picture in pictures]
    record = storage.styles.add(
        style.name, creator or getpass.getuser(), hashes, style.steps, style.loss, style.to_bytes(), style.model_hash,
        replace=replace, method=style.method,
    )
    return record, storage.styles.path(record.name)
