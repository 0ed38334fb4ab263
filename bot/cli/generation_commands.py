"""Model commands: `glyphbot imagine`, `glyphbot tween`, `glyphbot fonts`, `glyphbot train base|sr`; `bench sample` and `bench data` are in bench_commands.py."""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from bot.cli.app import USAGE_ERROR, app, fail, reported_errors
from bot.cli.request_flags import ALL, request_flags
from generation.request_parsers import png_bytes, random_seed, unescape_newlines

CONFIG_DIR = Path(__file__).resolve().parents[2] / "generation" / "configs"


class Stage(str, Enum):
    base = "base"
    sr = "sr"


# Every option with a flag but a tween's (that is `glyphbot tween`).
IMAGINE_OPTIONS = tuple(name for name in ALL if name not in ("kind", "end_prompt", "frames"))


@app.command()
@request_flags(*IMAGINE_OPTIONS)
def imagine(
    given: dict[str, Any],
    text: str = typer.Argument(..., help='The text the image must contain. "\\n" starts a new line.'),
    image: Optional[Path] = typer.Option(None, "--image", help="Init image for img2img (square; resized to the base size); with --box or --where, the photo to write the text into."),
    box: Optional[str] = typer.Option(None, "--box", metavar="X,Y,W,H", help="Write the text into this box of --image (pixels); everything outside stays as it is."),
    where: Optional[str] = typer.Option(None, "--where", help="Instead of --box: top, center or bottom band of --image."),
    style_image: Optional[Path] = typer.Option(None, "--style-image", help="A reference picture whose colours the result takes on."),
    out: Path = typer.Option(Path("glyphbot.png"), "--out", help="Where to write the winning image (PNG)."),
    all_candidates: bool = typer.Option(False, "--all", help="Also write every candidate beside --out."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda (default from config)."),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Folder with base/ and sr/ checkpoints."),
    as_json: bool = typer.Option(False, "--json", help="Print every candidate as a JSON document instead of one line."),
    here: bool = typer.Option(False, "--here", help="Render in this process even when a worker is running (see below)."),
) -> None:
    """Write an image that contains TEXT, using the shipped checkpoint; the job is kept in the history.
    Prints one line: where the picture is, what OCR read in it, the job and the time taken.

    When a worker runs on the configured database (`glyphbot worker` or `serve`) and the request has no
    picture, --device or --checkpoint-dir, the job is handed to it: its model is already loaded, so this
    process never imports torch. Otherwise, or when that worker stops, it renders here."""
    started = time.monotonic()
    settings = _model_settings(checkpoint_dir, device)
    from generation.request_options import asked, configured
    from ocr.imageio import ImageReadError, load_frames

    generation = settings.generation
    try:
        init_png = png_bytes(load_frames(image, max_frames=1)[0]) if image is not None else None
        style_png = png_bytes(load_frames(style_image, max_frames=1)[0]) if style_image is not None else None
    except ImageReadError as error:
        fail(str(error), USAGE_ERROR)
    # A seed drawn here, not by the renderer, is kept with the job and shown, so the picture can be drawn again.
    given["seed"] = random_seed() if given.get("seed") is None else given["seed"]
    request = asked(configured(generation.model_dump()), unescape_newlines(text), **given, init_image_png=init_png,
                    style_image_png=style_png, box=_photo_box(box, where, init_png))
    if not 1 <= request.candidates <= generation.max_candidates:
        fail(f"--candidates must be between 1 and {generation.max_candidates}, got {request.candidates}", USAGE_ERROR)
    _check_before_loading(settings, request)
    # Only requests the checks above fully vouch for go to a worker: a picture's problems show after loading.
    hand_over = not (here or checkpoint_dir or device or init_png or style_png)
    with reported_errors():
        job, images, read_image = _render_as_job(settings, request, hand_over)
    winner = next(image for image in images if image.chosen)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(read_image(winner.sha256))
    if all_candidates:
        for index, candidate in enumerate(images):
            path = out.with_name(f"{out.stem}-{candidate.stage}-{index:02d}-seed{candidate.seed}.png")
            path.write_bytes(read_image(candidate.sha256))
    if as_json:
        typer.echo(json.dumps({
            "out": str(out), "job": job.id, "seed": job.seed, "ocr_text": winner.ocr_text, "ocr_score": winner.ocr_score,
            "candidates": [
                {"stage": c.stage, "seed": c.seed, "ocr_text": c.ocr_text, "ocr_score": c.ocr_score, "chosen": c.chosen}
                for c in images
            ],
        }, indent=2))
    else:
        typer.echo(_result_line(out, job, winner.ocr_text or "", time.monotonic() - started))


def _result_line(out: Path, job, read: str, seconds: float) -> str:  # noqa: ANN001  storage.types.Job
    """What a person wants to know when imagine is done, in one line: the picture, whether OCR read the
    text back (line breaks and spaces folded: a wrapped line is no error), the seed that redraws it, the
    job (for `glyphbot jobs show`) and the time taken."""
    from ocr.scoring import fold_whitespace

    verdict = "reads back exactly" if fold_whitespace(read) == fold_whitespace(job.prompt) else f"OCR read {read!r}"
    return f"{out}: {verdict} (seed {job.seed}); job {job.id}; {seconds:.1f} s"


def _model_settings(checkpoint_dir: Optional[Path], device: Optional[str]):  # noqa: ANN202  config.settings.Settings
    """The settings with the command's --checkpoint-dir and --device, after checking (before torch is
    imported, which takes seconds) that a checkpoint is there: the most common first-run problem."""
    from config.settings import SettingsError, load_settings
    from generation.checkpoints import CheckpointMissingError, locate_checkpoints

    try:
        settings = load_settings()
        locate_checkpoints(checkpoint_dir or settings.generation.checkpoint_dir)
    except (SettingsError, CheckpointMissingError) as error:
        fail(str(error), USAGE_ERROR)
    chosen = {key: value for key, value in (("checkpoint_dir", checkpoint_dir), ("device", device)) if value is not None}
    return settings.model_copy(update={"generation": settings.generation.model_copy(update=chosen)}) if chosen else settings


def _photo_box(box: Optional[str], where: Optional[str], init_png: Optional[bytes]):  # noqa: ANN202  Box | None
    """The --box or --where of `imagine`, as a box in the --image's pixels (or None)."""
    from generation.types import box_for_place

    if box is None and where is None:
        return None
    if box is not None and where is not None:
        fail("give --box or --where, not both", USAGE_ERROR)
    if init_png is None:
        fail("--box and --where write into a picture: give it with --image", USAGE_ERROR)
    if where is not None:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(init_png)) as picture:
            try:
                return box_for_place(picture.width, picture.height, where)
            except ValueError as error:
                fail(f"--where: {error}", USAGE_ERROR)
    from generation.request_parsers import parse_box

    try:
        return parse_box(box)
    except ValueError as error:
        fail(f"--box: {error}", USAGE_ERROR)


def _check_before_loading(settings, request) -> None:  # noqa: ANN001  Settings, RenderRequest
    """Refuse what needs no model (options, prompt, layout, fonts) in about a second, with the one-line
    reason (exit 2), before torch and the checkpoints take seconds to load."""
    from bot.render.prechecks import check_before_loading
    from generation.layout import FontError
    from generation.request_parsers import PromptError
    from storage.errors import InvalidJob
    from storage.types import QueueLimits

    try:
        check_before_loading(request, QueueLimits.from_settings(settings))
    except (InvalidJob, PromptError, FontError) as error:
        fail(str(error), USAGE_ERROR)


def _checked_renderer(settings, request):  # noqa: ANN001,ANN202  Settings, RenderRequest -> CascadeRenderer
    """Load the cascade and check the request against it, or stop with the one-line reason (exit 2)."""
    from bot.render.cascade import CascadeRenderer
    from generation.checkpoints import CheckpointMissingError, DeviceUnavailableError
    from generation.photo import BoxError
    from generation.pipeline import ImageInputError, OptionError
    from generation.styles import UnusableStyleError
    from generation.request_parsers import PromptError
    from generation.tween import TweenError

    try:
        renderer = CascadeRenderer.from_settings(settings)
        renderer.check(request)
    except (CheckpointMissingError, DeviceUnavailableError, PromptError, OptionError, ImageInputError, BoxError, UnusableStyleError, TweenError) as error:
        fail(str(error), USAGE_ERROR)
    return renderer


@app.command()
def tween(
    start: str = typer.Argument(..., help="The first frame's text."),
    end: str = typer.Argument(..., help="The last frame's text."),
    frames: int = typer.Option(12, "--frames", help="Frames, both ends included (2 to 48)."),
    out: Path = typer.Option(Path("tween.gif"), "--out", help="An animated GIF (*.gif), or a folder for PNG frames."),
    seed: Optional[int] = typer.Option(None, "--seed", help="The noise every frame shares (default: random)."),
    font: Optional[str] = typer.Option(None, "--font", help="Font of both layouts (glyphbot fonts); default: the seed picks."),
    align: Optional[str] = typer.Option(None, "--align", help="left, center or right; default: the seed picks."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda (default from config)."),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Folder with base/ and sr/ checkpoints."),
) -> None:
    """Morph START into END with the noise held fixed: an animated GIF or PNG frames; kept in the history as a job."""
    settings = _model_settings(checkpoint_dir, device)
    from generation.request_options import asked, configured

    request = asked(configured(settings.generation.model_dump()), unescape_newlines(start), end_prompt=unescape_newlines(end),
                    kind="tween", frames=frames, seed=seed, font=font, align=align, candidates=1)
    renderer = _checked_renderer(settings, request)
    with reported_errors():
        job, images, read_image = _render_as_job(settings, renderer, request)
    if out.suffix.lower() == ".gif":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(read_image(next(image for image in images if image.stage == "gif").sha256))
        written = [str(out)]
    else:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for index, frame in enumerate(image for image in images if image.stage == "frame"):
            path = out / f"frame-{index:02d}.png"
            path.write_bytes(read_image(frame.sha256))
            written.append(str(path))
    typer.echo(json.dumps({"out": written, "job": job.id, "seed": images[0].seed, "frames": frames}, indent=2))


@app.command("fonts")
def fonts_command() -> None:
    """List the fonts a layout can use (the names `imagine --font` takes)."""
    from generation.layout import FontError, find_fonts, font_name

    try:
        fonts = find_fonts()
    except FontError as error:
        fail(str(error), USAGE_ERROR)
    for path in fonts:
        typer.echo(f"{font_name(path)}\t{path}")


@app.command("templates")
def templates_command() -> None:
    """List the templates a picture can be drawn as (the names `imagine --template` takes), one line each."""
    from generation.types import TEMPLATE_DESCRIPTIONS

    for name, description in TEMPLATE_DESCRIPTIONS.items():
        typer.echo(f"{name}\t{description}")


def _render_as_job(settings, request, hand_over: bool):  # noqa: ANN001,ANN202
    """Queue the request as the local user's job, so the picture lands in the history (database + image
    store) like a Discord or Tumblr one, and have it rendered: by a running worker when `hand_over` and one
    is up, else (or once that worker is gone) here with the queue's own worker code, so a crash mid-render
    leaves a job another worker can finish. Returns (job, its images, image reader)."""
    import getpass

    from bot.cli.progress import ShownRenderer, cli_progress
    from bot.worker import Worker, WorkerOptions
    from storage.facade import open_storage
    from storage.types import JobSubmission

    # Loaded and checked before storage opens and the job is queued: a request the model refuses leaves nothing behind.
    renderer = None if hand_over else _checked_renderer(settings, request)
    storage = open_storage(settings)
    if renderer is None and not storage.jobs.live_workers():
        renderer = _checked_renderer(settings, request)
    user = getpass.getuser()
    job = storage.jobs.submit(JobSubmission(request, "cli", user, user))
    with cli_progress() as show:
        if renderer is None and not _drawn_by_a_worker(storage, job.id, show):
            renderer = _checked_renderer(settings, request)  # the worker stopped before taking the job
        if renderer is not None:
            Worker(storage.jobs, ShownRenderer(renderer, show), WorkerOptions.from_settings(settings.worker)).run_job(job.id)
    job = storage.jobs.get(job.id)
    if job.status != "succeeded":
        fail(f"job {job.id} {job.status}: {job.error}")
    return job, storage.jobs.images_of(job.id, include_hidden=True), storage.images.read


def _drawn_by_a_worker(storage, job_id: int, show) -> bool:  # noqa: ANN001
    """Follow the job while a running worker draws it, showing its progress; False (the job still queued)
    when no worker is left to take it, so the caller renders it here instead."""
    from generation.types import Progress
    from storage.jobs import backoff_delays

    for delay in backoff_delays(0.05, 0.5):
        job = storage.jobs.get(job_id)
        if job.done:
            return True
        if job.status == "running" and job.progress_stage:
            show(Progress(job.progress_stage, job.progress_step, job.progress_total))
        elif job.status == "queued" and not storage.jobs.live_workers():
            return False
        time.sleep(delay)
    raise AssertionError("unreachable")


def _default_low_res_size(model_config: dict, warm_start_base: Optional[Path], init_from: Optional[Path]) -> int:
    """The SR input size must match the base the SR model will follow: ask the models themselves first."""
    if warm_start_base is not None and (warm_start_base / "config.json").is_file():
        return json.loads((warm_start_base / "config.json").read_text())["sample_size"]
    if init_from is not None and (init_from / "training.json").is_file():
        previous = json.loads((init_from / "training.json").read_text()).get("low_res_size")
        if previous:
            return previous
    return model_config["sample_size"] // 4  # the shipped cascade is 64 -> 256


@app.command()
def train(
    stage: Stage = typer.Argument(..., help="base (text -> low-res image) or sr (low-res -> 256 px)."),
    output_dir: Path = typer.Option(..., "--output", help="Run folder: checkpoints, samples, and model/ at the end."),
    config: Path = typer.Option(None, "--config", help="Model config JSON (default: configs/cpu-base-64.json or cpu-sr-256.json, the shipped CPU cascade)."),
    steps: int = typer.Option(1000, help="Total optimiser steps (a resumed run continues to this count)."),
    batch_size: int = typer.Option(32),
    learning_rate: float = typer.Option(1e-4),
    warmup_steps: int = typer.Option(200),
    lr_schedule: str = typer.Option("constant", help="constant after warm-up, or cosine: down to a tenth of --learning-rate over the run's --steps or --max-minutes, whichever ends first."),
    ema_decay: float = typer.Option(0.9999),
    prediction_type: str = typer.Option("sample", help="sample (x0, the shipped models), epsilon or v_prediction."),
    learned_variance: bool = typer.Option(False, help="Also learn the reverse-step variances (hybrid loss; used by --scheduler ddpm)."),
    min_snr_gamma: float = typer.Option(0.0, help="Min-SNR loss weighting (e.g. 5 for epsilon); 0 turns it off."),
    mixed_precision: str = typer.Option("no", help="no, fp16 (GPU) or bf16 (GPU, or a CPU with avx512_bf16)."),
    conditioning_dropout: float = typer.Option(0.1, help="Share of samples trained without text and glyph map (CFG's unconditional branch)."),
    glyph_dropout: float = typer.Option(0.1, help="Share of samples trained with the text but no glyph map (the glyph-free mode)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for torch (1 each when two runs share a 2-core machine)."),
    num_workers: int = typer.Option(0, help="DataLoader processes rendering synthetic data."),
    save_every: int = typer.Option(500),
    max_minutes: Optional[float] = typer.Option(None, help="Stop (checkpoint and export) after this many minutes of this run."),
    sample_every: int = typer.Option(500),
    min_lines: int = typer.Option(1),
    max_lines: int = typer.Option(3),
    max_chars: int = typer.Option(40),
    max_line_chars: int = typer.Option(16),
    template_share: float = typer.Option(0.0, min=0.0, max=1.0, help="Share of synthetic pictures drawn from the templates (tweets, memes, signs, pages... on scenes); the rest are plain cards."),
    region_dropout: float = typer.Option(0.1, min=0.0, max=0.99, help="Share of samples trained without their region map."),
    glyph_loss_weight: float = typer.Option(0.0, min=0.0, help="Extra loss weight on letter pixels (e.g. 4: letters count 5x the background); 0 turns it off."),
    folder_dataset: Optional[Path] = typer.Option(None, help="Train on image+.txt pairs instead of synthetic text."),
    init_from: Optional[Path] = typer.Option(None, help="Continue from these weights (e.g. the shipped checkpoint)."),
    warm_start_base: Optional[Path] = typer.Option(None, help="SR only: copy this base model into the SR middle."),
    low_res_size: Optional[int] = typer.Option(None, help="SR only: the base resolution (default: the warm-start base's, the continued run's, else a quarter of the SR size)."),
    seed: int = typer.Option(0),
) -> None:
    """Train (or continue training) a base or super-resolution model."""
    from generation.data.text_sampler import TextSamplerConfig
    from generation.train import Trainer, TrainingConfig
    from ocr.heldout import load_heldout_all

    config = config or CONFIG_DIR / ("cpu-base-64.json" if stage is Stage.base else "cpu-sr-256.json")
    if not config.is_file():
        fail(f"model config {config} not found", USAGE_ERROR)
    for option, folder in (("--init-from", init_from), ("--warm-start-base", warm_start_base)):
        if folder is not None and not (folder / "config.json").is_file():
            fail(f"{option} {folder}: no trained model there (a folder with config.json and weights, e.g. generation/checkpoints/base)", USAGE_ERROR)
    model_config = json.loads(config.read_text())
    if stage is Stage.sr and low_res_size is None:
        low_res_size = _default_low_res_size(model_config, warm_start_base, init_from)
    try:
        training_config = TrainingConfig(
            stage=stage.value, model=model_config, output_dir=str(output_dir), steps=steps, batch_size=batch_size,
            learning_rate=learning_rate, warmup_steps=warmup_steps, ema_decay=ema_decay, prediction_type=prediction_type,
            learned_variance=learned_variance, min_snr_gamma=min_snr_gamma or None, mixed_precision=mixed_precision, num_workers=num_workers,
            conditioning_dropout=conditioning_dropout, glyph_dropout=glyph_dropout, threads=threads,
            save_every=save_every, max_wall_minutes=max_minutes, sample_every=sample_every, seed=seed,
            text=TextSamplerConfig(min_lines=min_lines, max_lines=max_lines, max_chars=max_chars, max_line_chars=max_line_chars),
            folder_dataset=str(folder_dataset) if folder_dataset else None,
            init_from=str(init_from) if init_from else None,
            warm_start_base=str(warm_start_base) if warm_start_base else None,
            low_res_size=low_res_size, template_share=template_share, region_dropout=region_dropout,
            glyph_loss_weight=glyph_loss_weight, lr_schedule=lr_schedule,
        )
    except ValueError as error:
        fail(str(error), USAGE_ERROR)
    trainer = Trainer(training_config, excluded_transcripts=frozenset(load_heldout_all()), log=typer.echo)
    result = trainer.train()
    typer.echo(f"done: {result.steps} steps, final loss {result.final_loss:.4f}; model in {result.model_dir}")


@app.command("preview-data")
def preview_data(
    out: Path = typer.Option(Path("synthetic-data.png"), "--out", help="Where to write the grid (PNG)."),
    size: int = typer.Option(128, help="Image size in pixels (the stage's resolution)."),
    count: int = typer.Option(16, min=1, max=256, help="How many samples."),
    min_lines: int = typer.Option(1),
    max_lines: int = typer.Option(3),
    max_chars: int = typer.Option(40),
    max_line_chars: int = typer.Option(16),
    template_share: float = typer.Option(0.0, min=0.0, max=1.0, help="Share drawn from the templates (tweets, memes, signs...), the rest plain cards."),
    seed: int = typer.Option(0),
) -> None:
    """Write a grid of synthetic training images and print their transcripts: check fonts and curriculum before a run."""
    from itertools import islice

    from generation.data.datasets import SyntheticTextDataset
    from generation.data.grid import tile_grid
    from generation.layout import FontError
    from generation.data.text_sampler import TextSamplerConfig, WordListError
    from generation.pipeline import tensor_to_pil

    try:
        text = TextSamplerConfig(min_lines=min_lines, max_lines=max_lines, max_chars=max_chars, max_line_chars=max_line_chars)
        examples = list(islice(SyntheticTextDataset(size, text, seed=seed, template_share=template_share), count))
    except (ValueError, FontError, WordListError) as error:
        fail(str(error), USAGE_ERROR)
    import torch

    grid = tile_grid(tensor_to_pil(torch.stack([example.pixels for example in examples])))
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    for index, example in enumerate(examples):
        typer.echo(f"{index:3d}: {example.text!r}")
    typer.echo(f"wrote {out} ({grid.width}x{grid.height})")
