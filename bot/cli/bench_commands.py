"""Every `glyphbot bench` command in one place, so `glyphbot bench --help` lists every benchmark and a new one
has an obvious home. Each prints its figures beside a baseline measured in the same run, on the same machine
under the same load, so the figures mean the same on a busy and an idle machine.

sample, data: the model and its training data; queue: the job queue; ocr, ocr-validate, text-accuracy: the
reader, and the model's text as the reader judges it; look, photo: styles, reference pictures and text written
into photos; cli: whole processes. The measuring lives beside what it measures (generation/benchmark.py,
generation/data/throughput.py, generation/look_benchmark.py, generation/photo_benchmark.py, ocr/benchmark.py,
bot/worker/benchmark.py); the commands here take the options, load what is measured and print the tables.

Heavy stacks (torch, SQLAlchemy, PIL, rich) are imported inside the commands so `glyphbot --help` stays fast.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from bot.cli.app import USAGE_ERROR, bench_app, existing_file, fail, reported_errors
from bot.cli.generation_commands import CONFIG_DIR
from generation.request_parsers import parse_box, png_bytes, unescape_newlines

if TYPE_CHECKING:
    from PIL import Image


@bench_app.command("sample")
def bench_sample(
    batch_sizes: str = typer.Option("1,4", help="Comma-separated batch sizes (4 = a request's default candidates)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    repeats: int = typer.Option(3, help="Timed steps per stage and batch size (after one warm-up)."),
    checkpoint_dir: Optional[Path] = typer.Option(None, help="Time these checkpoints instead of the shipped ones."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also time the 25M GPU-sized cascade (configs base-64 and sr-256-from-64)."),
) -> None:
    """Seconds per request and per image for the shipped cascade, beside the 25M cascade and the original
    250 + 250-step DDPM recipe, all measured in this run (U-Net time; OCR comes on top, see bench text-accuracy)."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from config.settings import SettingsError, load_settings
    from generation.benchmark import ORIGINAL_STEPS, Recipe, recipe_ms_per_image, time_guided_step
    from generation.checkpoints import CheckpointMissingError, locate_checkpoints, resolve_device
    from generation.unet import GlyphUNet2DModel

    console = Console()
    try:
        generation = load_settings().generation
    except SettingsError as error:
        fail(str(error), USAGE_ERROR)
    torch_device = resolve_device(device)
    dtype = torch.float16 if torch_device.type == "cuda" else torch.float32
    sizes = [int(size) for size in batch_sizes.split(",")]

    def fresh(*configs: str) -> dict:
        # Speed does not depend on the weights' values: time freshly initialised models of these configs.
        # .half() rather than .to(dtype): diffusers logs a spurious fp32-modules warning on every .to(dtype).
        models = {stage: GlyphUNet2DModel(**json.loads((CONFIG_DIR / f"{name}.json").read_text()))
                  for stage, name in zip(("base", "sr"), configs)}
        return {stage: model.half() if dtype == torch.float16 else model for stage, model in models.items()}

    try:
        shipped = locate_checkpoints(checkpoint_dir or generation.checkpoint_dir)
        cascades = {"shipped": {"base": GlyphUNet2DModel.from_pretrained(shipped.base, torch_dtype=dtype)}}
        if shipped.sr is not None:
            cascades["shipped"]["sr"] = GlyphUNet2DModel.from_pretrained(shipped.sr, torch_dtype=dtype)
        console.print(f"shipped checkpoints: {shipped.base.parent}", soft_wrap=True, markup=False)
    except CheckpointMissingError:
        cascades = {"shipped": fresh("cpu-base-64", "cpu-sr-256")}
        console.print("no trained checkpoint is shipped: timing untrained models of configs cpu-base-64 and cpu-sr-256", soft_wrap=True)
    if baseline:
        cascades["25M"] = fresh("base-64", "sr-256-from-64")
    scales = {"base": generation.guidance_scale, "sr": generation.sr_guidance_scale}
    console.print(f"on {torch_device} ({dtype}, {torch.get_num_threads()} threads), guidance as configured: "
                  f"base {scales['base']}, SR {scales['sr']} (1 = one pass per image, else two)", soft_wrap=True)
    timings: dict[str, dict] = {}
    for cascade, models in cascades.items():
        timings[cascade] = {}
        for stage, model in models.items():
            model = model.to(torch_device).eval()
            for batch in sizes:
                timing = time_guided_step(model, batch, torch_device, repeats, "HELLO\nWORLD", scales[stage])
                timings[cascade][(stage, batch)] = timing
                console.print(f"  {cascade} {stage} {model.config.sample_size}px batch {batch}: {timing.ms_per_step:.1f} ms/step, peak {timing.peak_memory_mb:.0f} MB")
    recipes = [
        Recipe(f"glyphbot {generation.num_inference_steps}+{generation.sr_num_inference_steps}", generation.num_inference_steps, generation.sr_num_inference_steps),
        Recipe(f"original {ORIGINAL_STEPS}+{ORIGINAL_STEPS}", ORIGINAL_STEPS, ORIGINAL_STEPS),
    ]
    console.print(
        f"recipes: glyphbot = {generation.scheduler} with the configured steps; "
        f"original = ancestral DDPM {ORIGINAL_STEPS} + {ORIGINAL_STEPS} steps (the baseline)",
        soft_wrap=True,
    )
    table = Table(title=f"Cascade cost on {torch_device}: seconds per request of N candidates (per image)")
    table.add_column("cascade")
    table.add_column("recipe")
    for batch in sizes:
        table.add_column(f"N={batch}", justify="right")
    for cascade in cascades:
        for recipe in recipes:
            cells = []
            for batch in sizes:
                per_image = recipe_ms_per_image(timings[cascade], recipe, batch)
                cells.append(f"{per_image * batch / 1000:,.1f} s ({per_image / 1000:,.2f})")
            table.add_row(cascade, recipe.name, *cells)
    console.print(table)
    first = sizes[-1]
    ours = recipe_ms_per_image(timings["shipped"], recipes[0], first)
    slowest = recipe_ms_per_image(timings["25M" if baseline else "shipped"], recipes[1], first)
    console.print(f"speed-up at N={first}: {slowest / ours:.1f}x ({'25M' if baseline else 'shipped'} cascade, original recipe vs shipped, glyphbot recipe)")


@bench_app.command("data")
def bench_data(
    sizes: str = typer.Option("64,128,256", help="Comma-separated image sizes."),
    workers: int = typer.Option(2, min=1, help="DataLoader worker processes (the training run's --num-workers)."),
    samples: int = typer.Option(512, min=32, help="Samples timed per setting."),
) -> None:
    """Synthetic samples/s: one process (baseline) vs a DataLoader with --workers processes, per size."""
    from rich.console import Console
    from rich.table import Table

    from generation.data.text_sampler import TextSamplerConfig
    from generation.data.throughput import measure_data_rate

    table = Table(title="Synthetic training data, samples/s (1-3 lines, up to 40 characters)")
    for column in ("size", "1 process (baseline)", f"{workers} workers", "speed-up"):
        table.add_column(column, justify="right")
    text = TextSamplerConfig()
    for size in (int(value) for value in sizes.split(",")):
        single = measure_data_rate(size, 0, samples, text)
        parallel = measure_data_rate(size, workers, samples, text)
        table.add_row(f"{size}px", f"{single.samples_per_s:,.0f}", f"{parallel.samples_per_s:,.0f}",
                      f"{parallel.samples_per_s / single.samples_per_s:.1f}x")
    Console().print(table)


@bench_app.command("queue")
def bench_queue(
    jobs: Annotated[int, typer.Option(help="Jobs per throughput run.")] = 2000,
    history_rows: Annotated[int, typer.Option(help="Rows in the history-latency table.")] = 1_000_000,
    postgres_url: Annotated[Optional[str], typer.Option(help="Server for the PostgreSQL runs (a throwaway database is created).")] = "postgresql+psycopg://postgres@127.0.0.1:5432",
    workers: Annotated[str, typer.Option(help="PostgreSQL worker counts, comma-separated.")] = "1,4,16",
    batch: Annotated[int, typer.Option(help="Worker batch size.")] = 1,
) -> None:
    """Jobs/s submitted and completed with a zero-cost renderer, and history page latency."""
    from bot.worker.benchmark import run_queue_bench

    run_queue_bench(jobs=jobs, history_rows=history_rows, postgres_url=postgres_url, worker_counts=[int(n) for n in workers.split(",")], batch=batch)


def _candidates(count: int, size: int) -> tuple[list[str], list[Image.Image]]:
    """`count` held-out transcripts drawn at `size` px in rotating fonts, text about as large as a model draws it."""
    from ocr.fontrender import available_fonts, render_text
    from ocr.heldout import load_heldout

    transcripts = (load_heldout() * (count // len(load_heldout()) + 1))[:count]
    fonts = available_fonts()
    images = [render_text(t, size, fonts[i % len(fonts)], max_font_px=size // 5) for i, t in enumerate(transcripts)]
    return transcripts, images


@bench_app.command("ocr")
def bench_ocr(
    count: int = typer.Option(8, min=1, help="Images in the batch (a candidate batch is 8)."),
    size: int = typer.Option(256, min=32, help="Image side in pixels."),
    workers: int = typer.Option(0, min=0, help="Parallel worker processes (0: min(8, CPU count))."),
    repeats: int = typer.Option(3, min=1, help="Timed runs per method; the median is printed."),
) -> None:
    """ms per image reading a batch: serial in-process (baseline) vs parallel processes vs one stacked image."""
    from rich.console import Console
    from rich.table import Table

    from ocr.reader import Reader, warm_up
    from ocr.scoring import exact_match

    reader = Reader(workers=workers) if workers else Reader()
    transcripts, images = _candidates(count, size)
    reader.read(images[0])  # first tesseract start pays for disk caches; keep it out of the baseline
    started = time.perf_counter()
    warm_up(reader.workers)
    pool_start_ms = (time.perf_counter() - started) * 1000

    methods = {
        "serial (baseline)": lambda: [reader.read(image) for image in images],
        f"parallel, {reader.workers} processes": lambda: reader.read_many(images),
        "stacked into one image": lambda: reader.read_stacked(images),
        f"stacked, one stack per process ({reader.workers})": lambda: reader.read_stacked(images, parallel=True),
    }
    table = Table(title=f"OCR of {count} images of {size} px (median of {repeats} runs)")
    for column in ("method", "ms/image", "speed-up", "exact match"):
        table.add_column(column, justify="right")
    baseline = None
    for name, run in methods.items():
        timings, readings = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            readings = run()
            timings.append((time.perf_counter() - started) * 1000 / count)
        ms = statistics.median(timings)
        baseline = baseline or ms
        exact = sum(exact_match(t, r.text) for t, r in zip(transcripts, readings))
        table.add_row(name, f"{ms:.1f}", f"{baseline / ms:.2f}x", f"{exact}/{count}")
    console = Console()
    console.print(table)
    console.print(f"starting the {reader.workers} worker processes took {pool_start_ms:.0f} ms (once per process)")


@bench_app.command("ocr-validate")
def bench_ocr_validate(
    size: int = typer.Option(256, min=32, help="Image side in pixels."),
    required: float = typer.Option(0.95, help="Exact-match rate the reader must reach."),
    show: int = typer.Option(10, min=0, help="How many misreadings to list."),
    limit: int = typer.Option(0, min=0, help="Use only the first N held-out transcripts (0: all)."),
    stacked: bool = typer.Option(False, "--stacked", help="Read stacked images (one tesseract call per process)."),
) -> None:
    """Validate reader + scorer: every held-out transcript drawn in every installed font must read back.

    Exits with code 1 when the exact-match rate is under `required`.
    """
    from rich.console import Console
    from rich.table import Table

    from ocr.fontrender import available_fonts, render_text
    from ocr.heldout import load_heldout
    from ocr.reader import Reader
    from ocr.scoring import character_error_rate, exact_match, exact_match_ignoring_case

    reader = Reader()
    transcripts = load_heldout()[: limit or None]
    table = Table(title=f"held-out transcripts drawn with fonts at {size} px, read back")
    for column in ("font", "images", "exact", "exact (any case)", "mean CER"):
        table.add_column(column, justify="right")
    total = exact_total = 0
    misreadings: list[tuple[str, str, str]] = []
    started = time.perf_counter()
    for font in available_fonts():
        images = [render_text(t, size, font, max_font_px=size // 5) for t in transcripts]
        readings = reader.read_stacked(images, parallel=True) if stacked else reader.read_many(images)
        texts = [r.text for r in readings]
        exact = [exact_match(t, r) for t, r in zip(transcripts, texts)]
        misreadings += [(font.name, t, r) for t, r, ok in zip(transcripts, texts, exact) if not ok]
        any_case = sum(exact_match_ignoring_case(t, r) for t, r in zip(transcripts, texts))
        cer = statistics.fmean(character_error_rate(t, r) for t, r in zip(transcripts, texts))
        table.add_row(font.name, str(len(texts)), f"{sum(exact) / len(texts):.1%}", f"{any_case / len(texts):.1%}", f"{cer:.4f}")
        total += len(texts)
        exact_total += sum(exact)
    rate = exact_total / total
    table.add_row("all", str(total), f"{rate:.1%}", "", "", style="bold")
    console = Console()
    console.print(table)
    for font_name, transcript, reading in misreadings[:show]:
        console.print(f"  {font_name}: {transcript!r} read as {reading!r}", markup=False)
    verdict = "PASS" if rate >= required else "FAIL"
    console.print(f"{verdict}: exact match {rate:.1%} (required {required:.0%}), {time.perf_counter() - started:.1f} s")
    if rate < required:
        raise typer.Exit(1)


def _candidate_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated whole numbers such as 1,4,8, got {text!r}") from None
    if any(count < 1 for count in counts):
        raise typer.BadParameter(f"every candidate count must be at least 1, got {text!r}")
    return counts


@bench_app.command("text-accuracy")
def bench_text_accuracy(
    prompts: Optional[Path] = typer.Option(
        None, "--prompts", dir_okay=False, readable=True, callback=existing_file, help='Transcript file: one per line, "\\n" for a line break, # comments (default: the held-out set).',
    ),
    long: bool = typer.Option(False, "--long", help="The long held-out transcripts (tweets, memes, pages... up to 380 characters) instead of the short ones."),
    template: Optional[str] = typer.Option(None, "--template", help="Pin every transcript's template (glyphbot templates); default: the rules pick."),
    limit: int = typer.Option(0, min=0, help="Use only the first N transcripts (0: all)."),
    candidates: str = typer.Option(
        "1,4,8", "--candidates", callback=_candidate_counts, help="Candidate counts to compare; 1 (no rejection sampling) is the baseline.",
    ),
    seed: int = typer.Option(0, min=0, help="Transcript i's first candidate uses seed+i under every setting."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Base-stage sampler steps (default from config)."),
    sr_steps: Optional[int] = typer.Option(None, "--sr-steps", help="SR-stage sampler steps (default from config)."),
    guidance: Optional[float] = typer.Option(None, "--guidance", help="Base-stage guidance scale (default from config)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="ddpm, ddim or dpmsolver (default from config)."),
    layout: str = typer.Option("glyph", "--layout", help="glyph (each candidate follows its drawn layout) or none (the model alone)."),
    ceiling: bool = typer.Option(True, "--ceiling/--no-ceiling", help="Also score font renders of the same layouts, the most the cascade can reach."),
    sheet: Path = typer.Option(Path("text-accuracy.png"), "--sheet", dir_okay=False, help="Where to write the contact sheet (PNG)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda (default from config)."),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Folder with base/ and sr/ checkpoints."),
) -> None:
    """Render transcripts with the trained cascade at several candidate counts; print how well the winners read.

    One table row per count: exact match (as written, and with line breaks folded into spaces, since long
    transcripts are word-wrapped), also ignoring case, CER (both ways), trigram score, no-text rate, the
    share of flat pictures (no structure outside the text boxes, see ocr/flatness.py), ms/prompt; with
    --ceiling, the same rows for font renders of the candidates' own layouts below them. Then a table per
    template, and a contact sheet per template beside --sheet.
    """
    from rich.console import Console
    from rich.progress import Progress

    from bot.render.cascade import CascadeRenderer, LayoutFontRenderer
    from config.settings import SettingsError, load_settings
    from generation.checkpoints import CheckpointMissingError, DeviceUnavailableError
    from generation.pipeline import OptionError
    from generation.request_parsers import PromptError
    from generation.types import RenderRequest
    from generation.types import TEMPLATES
    from ocr.benchmark import report_table, run_text_accuracy, template_breakdown, write_contact_sheet, write_template_sheets
    from ocr.heldout import PromptFileError, load_heldout, load_heldout_long, load_transcript_file

    counts: list[int] = candidates  # type: ignore[assignment]  the callback turned the text into counts
    chosen = {"checkpoint_dir": checkpoint_dir, "device": device, "num_inference_steps": steps,
              "sr_num_inference_steps": sr_steps, "guidance_scale": guidance, "scheduler": scheduler}
    try:
        settings = load_settings(generation={key: value for key, value in chosen.items() if value is not None})
        if template is not None and template not in TEMPLATES:
            raise typer.BadParameter(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}", param_hint="--template")
        default = load_heldout_long if long else load_heldout
        transcripts = (load_transcript_file(prompts) if prompts is not None else default())[: limit or None]
        if not transcripts:
            raise PromptFileError(f"{prompts}: no transcripts in the file")
        if max(counts) > settings.generation.max_candidates:
            raise typer.BadParameter(f"at most {settings.generation.max_candidates} (generation.max_candidates)", param_hint="--candidates")
        sheet.parent.mkdir(parents=True, exist_ok=True)  # a folder that cannot be made fails now, not after the run
        renderer = CascadeRenderer.from_settings(settings)
    except (SettingsError, PromptFileError, OSError, CheckpointMissingError, DeviceUnavailableError) as error:
        fail(str(error), USAGE_ERROR)
    g = settings.generation
    request = RenderRequest("", guidance_scale=g.guidance_scale, sr_guidance_scale=g.sr_guidance_scale, seed=seed,
                            num_inference_steps=g.num_inference_steps, sr_num_inference_steps=g.sr_num_inference_steps,
                            scheduler=g.scheduler, layout=layout, template=template)
    describe = None if layout == "none" else _layout_describer(template)
    console = Console(width=max(Console().width, 132))  # ten columns: never wrap a row
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("rendering", total=len(transcripts) * len(counts) * (2 if ceiling else 1))
        try:
            report = run_text_accuracy(transcripts, renderer, request, counts, on_sample=lambda _: progress.advance(task), describe=describe)
            best = None
            if ceiling:
                final_size = (renderer.pipeline.sr_unet or renderer.pipeline.base_unet).config.sample_size
                best = run_text_accuracy(transcripts, LayoutFontRenderer(final_size, renderer.ocr_settings), request, counts,
                                         on_sample=lambda _: progress.advance(task), describe=describe)
        except (PromptError, OptionError) as error:
            fail(str(error), USAGE_ERROR)
    console.print(f"checkpoints in {g.checkpoint_dir}, {g.scheduler} {g.num_inference_steps}+{g.sr_num_inference_steps} steps, "
                  f"guidance {g.guidance_scale}, layout {layout}, seed {seed}; ms/prompt includes OCR", soft_wrap=True, markup=False)
    console.print(report_table(report, f"text accuracy of {len(transcripts)} transcripts", best))
    if describe is not None:
        console.print(template_breakdown(report))
    try:
        console.print(f"contact sheet: {write_contact_sheet(report, sheet)}", soft_wrap=True, markup=False)
        for path in write_template_sheets(report, sheet):
            console.print(f"contact sheet: {path}", soft_wrap=True, markup=False)
    except OSError as error:
        fail(str(error), USAGE_ERROR)


def _layout_describer(template: str | None):
    """The benchmark's `describe`: the template a transcript's first candidate is drawn as, and every
    candidate's text boxes (left out of the flatness figure), from the seeds the renderer uses."""
    from generation.templates import candidate_layouts

    def describe(transcript: str, seed: int, count: int) -> tuple[str, list[tuple[float, float, float, float]]]:
        layouts = [layout for layout in candidate_layouts([transcript] * count, [seed + i for i in range(count)], template=template) if layout]
        return (layouts[0].template if layouts else "none"), [box for layout in layouts for box in layout.text_boxes()]

    return describe


def _numbers(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"give comma-separated numbers, got {text!r}") from None
    if not values or any(not 0 < value <= 1 for value in values):
        raise typer.BadParameter(f"each value must be above 0 and at most 1, got {text!r}")
    return values


@bench_app.command("look")
def bench_look(
    style: list[str] = typer.Option([], "--style", help="A learned style (glyphbot style list); repeat it to compare styles learned from the same examples (vectors, LoRA, LoRA without the prior loss)."),
    reference: Optional[Path] = typer.Option(None, "--reference", dir_okay=False, callback=existing_file, help="A reference picture: compare colour guidance with plain img2img starts from it."),
    strengths: str = typer.Option("0.5,1", "--strengths", help="Style strengths to measure."),
    img2img: str = typer.Option("0.6,0.8", "--img2img", help="With --reference: img2img strengths of the plain baseline."),
    limit: int = typer.Option(20, min=1, help="The first N held-out transcripts."),
    seed: int = typer.Option(0, min=0, help="Transcript i uses seed+i in every row."),
    figure: Path = typer.Option(Path("look.png"), "--figure", dir_okay=False, help="Where to write the figure (pictures and colour histograms per row)."),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Folder with base/ and sr/ checkpoints."),
) -> None:
    """How far styles or a reference picture move new pictures' colours and texture towards their
    examples, and the text accuracy they keep.

    Rows: no steering (the baseline, same prompts and seeds), then per style by its method: vectors alone
    and with palette steering, or the LoRA adapter alone and with palette steering, at each strength; for a
    reference, colour guidance at each strength and img2img starts."""
    from dataclasses import replace

    from rich.console import Console
    from rich.progress import Progress

    from bot.render.cascade import CascadeRenderer
    from config.settings import SettingsError, load_settings
    from generation.checkpoints import CheckpointMissingError
    from generation.types import RenderRequest
    from ocr.heldout import load_heldout
    from generation.colour import centre_square
    from generation.look_benchmark import LookVariant, look_table, run_look_bench, style_variants, texture, write_look_figure

    if bool(style) == (reference is not None):
        fail("give --style NAME or --reference PICTURE (one of them)", USAGE_ERROR)
    levels = _numbers(strengths)
    try:
        settings = load_settings(generation={"checkpoint_dir": checkpoint_dir} if checkpoint_dir else {})
        renderer = CascadeRenderer.from_settings(settings)
    except (SettingsError, CheckpointMissingError) as error:
        fail(str(error), USAGE_ERROR)
    from PIL import Image

    g = settings.generation
    plain = RenderRequest("", guidance_scale=g.guidance_scale, sr_guidance_scale=g.sr_guidance_scale, seed=seed,
                          num_inference_steps=g.num_inference_steps, sr_num_inference_steps=g.sr_num_inference_steps, scheduler=g.scheduler)
    variants = [LookVariant("none", plain)]
    if style:
        from storage.facade import open_storage

        with reported_errors():
            storage = open_storage(settings)
            records = [storage.styles.get(name) for name in style]
            if len({record.example_hashes for record in records}) > 1:
                fail("give styles learned from the same examples: the colour distance is to those examples", USAGE_ERROR)
            targets = [Image.open(io.BytesIO(storage.images.read(sha))).convert("RGB") for sha in records[0].example_hashes]
            for record in records:
                variants += style_variants(record.name, storage.styles.tokens(record.name), plain, levels)
    else:
        picture = Image.open(reference).convert("RGB")
        targets = [picture]
        square = centre_square(picture)  # img2img takes square pictures
        variants += [LookVariant(f"img2img @ {level:g}", replace(plain, init_image_png=png_bytes(square), strength=level)) for level in _numbers(img2img)]
        variants += [LookVariant(f"colour guidance @ {level:g}", replace(plain, style_image_png=png_bytes(picture), style_strength=level)) for level in levels]
    transcripts = load_heldout()[:limit]
    console = Console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("rendering", total=len(transcripts) * len(variants))
        rows = run_look_bench(transcripts, renderer, variants, targets, on_sample=lambda _: progress.advance(task))
    size = rows[0].samples[0].image.width
    target_texture = statistics.fmean(texture(target, size) for target in targets)
    console.print(look_table(rows, f"{len(transcripts)} held-out transcripts, 1 candidate, seed {seed}; colour distance to the "
                                   f"targets 0..255 (lower: closer); texture: mean luminance gradient (targets: {target_texture:.1f})"))
    console.print(f"figure: {write_look_figure(rows, targets, figure)}", soft_wrap=True, markup=False)


@bench_app.command("photo")
def bench_photo(
    photo: Path = typer.Option(Path(__file__).resolve().parents[2] / "generation" / "samples" / "features" / "photo-hills.jpg",
                               "--photo", dir_okay=False, callback=existing_file, help="The photo to write into."),
    boxes: list[str] = typer.Option(["140,50,200,80", "40,20,160,70", "260,120,180,60", "100,300,280,50"], "--box",
                                    help="Boxes X,Y,W,H (repeat the option); each needs a pixel of photo on every side."),
    text: str = typer.Option("SALE", "--text", help="The text written into every box."),
    seed: int = typer.Option(7, min=0),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Folder with base/ and sr/ checkpoints."),
) -> None:
    """Text into boxes of a photo: the seam at the box's edge with a hard paste vs the product's fade-in, and OCR in the box."""
    from rich.console import Console

    from config.settings import SettingsError, load_settings
    from generation.checkpoints import CheckpointMissingError, locate_checkpoints, resolve_device

    try:
        settings = load_settings(generation={"checkpoint_dir": checkpoint_dir} if checkpoint_dir else {})
        shipped = locate_checkpoints(settings.generation.checkpoint_dir)
        parsed = [parse_box(box) for box in boxes]
    except (SettingsError, CheckpointMissingError, ValueError) as error:
        fail(str(error), USAGE_ERROR)
    from PIL import Image

    from generation.photo import BoxError
    from generation.pipeline import GlyphCascadePipeline
    from generation.photo_benchmark import photo_table, run_photo_bench
    from ocr.policy import OcrSettings

    pipeline = GlyphCascadePipeline.from_checkpoints(shipped.base, shipped.sr, device=resolve_device(settings.generation.device))
    pipeline.set_progress_bar_config(disable=True)
    g = settings.generation
    try:
        rows = run_photo_bench(pipeline, OcrSettings(parallel_workers=1).reader().for_photo_boxes(), Image.open(photo).convert("RGB"), parsed,
                               unescape_newlines(text), seed, g.num_inference_steps, g.sr_num_inference_steps)
    except BoxError as error:
        fail(str(error), USAGE_ERROR)
    Console().print(photo_table(rows, unescape_newlines(text)))


@bench_app.command("pictures")
def bench_pictures(
    side: int = typer.Option(4096, min=64, max=4096, help="Side of the square test picture (the gate admits up to 4096)."),
    limit_mb: float = typer.Option(300.0, "--limit-mb", help="The most a picture may cost the worker above its resident size."),
    checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir", help="Folder with base/ and sr/ checkpoints."),
) -> None:
    """Worker memory for the largest picture the gate admits, on every path that decodes one, beside a 64 px one."""
    from rich.console import Console

    from config.settings import SettingsError, load_settings
    from generation.checkpoints import CheckpointMissingError, locate_checkpoints

    try:
        settings = load_settings(generation={"checkpoint_dir": checkpoint_dir} if checkpoint_dir else {})
        locate_checkpoints(settings.generation.checkpoint_dir)
    except (SettingsError, CheckpointMissingError) as error:
        fail(str(error), USAGE_ERROR)
    from bot.render.cascade import CascadeRenderer
    from bot.render.memory_benchmark import memory_table, run_memory_bench

    rows = run_memory_bench(CascadeRenderer.from_settings(settings), side)
    Console(width=max(Console().width, 110)).print(memory_table(rows, limit_mb))
    if any(row.peak_mb > limit_mb for row in rows):
        fail(f"a {side} px picture costs the worker more than {limit_mb:.0f} MB on some path")


# `bench cli`: how long whole `glyphbot` processes take. A person waits for the whole process, not for the
# model: interpreter start, imports, database, loading the checkpoints, drawing and OCR. Every row is a fresh
# process in a scratch data folder (embedded SQLite), timed by wall clock; the median of the repeats is shown.
# For `imagine`, the job's own render time (the worker's start to finish: model and OCR) comes from its
# history, so the overhead is the difference.
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
    """Seconds per whole glyphbot process (help, jobs list, a refused imagine, imagine HELLO with 1 candidate,
    rendered in the process and handed to a running worker) beside `python -c "import torch"`, all measured
    in this run."""
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

        def measure(name: str, command: list[str]) -> None:
            seconds, codes, render_s = [], set(), []
            for _ in range(repeats):
                elapsed, done = _timed(command, env)
                seconds.append(elapsed)
                codes.add(done.returncode)
                if "imagine HELLO" in name and done.returncode == 0:
                    render_s.append(_render_seconds(glyphbot, env, json.loads(done.stdout)["job"]))
            table.add_row(name, f"{statistics.median(seconds):.2f}", ",".join(str(code) for code in sorted(codes)))
            if render_s:
                table.add_row("  of which the job's render (model + OCR)", f"{statistics.median(render_s):.2f}", "")

        for name, command in rows.items():
            measure(name, command)
        # The same request handed to a worker whose model is already loaded (imagine's default when one runs).
        worker = subprocess.Popen([*glyphbot, "worker", *imagine_options], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_a_worker(env)
            measure("glyphbot imagine HELLO --candidates 1, a worker running", [
                *glyphbot, "imagine", "HELLO", "--candidates", "1", "--seed", "0", "--out", f"{scratch}/hello.png", "--json"])
        finally:
            worker.terminate()
            worker.wait(timeout=120)
        Console().print(table)


def _render_seconds(glyphbot: list[str], env: dict[str, str], job: int) -> float:
    """A job's render time (its worker's start to finish: model and OCR), from its history."""
    shown = subprocess.run([*glyphbot, "jobs", "show", str(job), "--json"], env=env, capture_output=True, text=True, timeout=120)
    fields = json.loads(shown.stdout)
    started, finished = (_iso(fields[key]) for key in ("started_at", "finished_at"))
    return finished - started


def _wait_for_a_worker(env: dict[str, str], timeout_s: float = 300.0) -> None:
    """Until a worker on `env`'s database says it runs (it loads the model first)."""
    probe = "from storage.facade import open_storage; print(open_storage().jobs.live_workers())"
    deadline = time.monotonic() + timeout_s
    while subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120).stdout.strip() in ("", "0"):
        if time.monotonic() > deadline:
            fail(f"no worker started within {timeout_s:.0f} s")
        time.sleep(0.5)


def _iso(text: str) -> float:
    """A job's ISO 8601 time as seconds since the epoch."""
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()
