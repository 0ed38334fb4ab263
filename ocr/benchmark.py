"""The text-accuracy benchmark that every model change is judged by.

For each candidate count (e.g. 1, 4, 8) every transcript is rendered with rejection sampling and the
winner's reading is compared with the transcript: exact match, case-insensitive exact match, CER,
trigram score, and the no-text rate (the winner reads as nothing at all, which is a different failure
from misspelling). One candidate means no choice at all: that row is the baseline the others are
judged against, measured in the same run.

Transcript i uses seed `request.seed + i` under every setting, and candidate j of a request uses seed
+ j, so a setting with more candidates draws the baseline's image plus others: the settings differ only
in how many candidates they draw.

The model comes in as a `generation.types.Renderer` (what the worker calls): `glyphbot bench
text-accuracy` passes `bot.worker.cascade.CascadeRenderer`, the tests a font-drawn stand-in.

Long transcripts are word-wrapped to the picture, so exact match and CER are also reported with line
breaks folded into spaces (ocr.scoring.fold_whitespace). With a `describe` callback that says which
template a transcript's candidates use and where their text goes, each sample also gets its template
(contact sheets per template) and its flatness (ocr.flatness: no structure outside the text boxes).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import fmean
from typing import Callable, Sequence

from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.table import Table

from generation.types import RenderRequest, Renderer
from ocr.flatness import Box, is_flat
from ocr.fontrender import available_fonts
from ocr.scoring import TextScore, score_text

# (transcript, first seed, candidate count) -> the first candidate's template, and the text boxes of
# every candidate (their union is left out of the flatness figure).
Describe = Callable[[str, int, int], tuple[str, list[Box]]]


@dataclass(frozen=True)
class Sample:
    """One transcript generated under one setting: the winner, its reading and its scores."""

    transcript: str
    candidates: int
    image: Image.Image
    reading: str
    score: TextScore
    template: str | None = None
    flat: bool | None = None

    @property
    def no_text(self) -> bool:
        return not self.reading.strip()


@dataclass(frozen=True)
class SettingSummary:
    candidates: int
    prompts: int
    exact: float
    exact_ignoring_case: float
    cer: float
    trigram: float
    no_text_rate: float
    ms_per_prompt: float
    exact_folded: float
    cer_folded: float
    flat_rate: float | None


@dataclass(frozen=True)
class TextAccuracyReport:
    summaries: tuple[SettingSummary, ...]
    samples: tuple[Sample, ...]


def _summarise(candidates: int, samples: list[Sample], seconds: float) -> SettingSummary:
    return SettingSummary(
        candidates=candidates,
        prompts=len(samples),
        exact=fmean(s.score.exact for s in samples),
        exact_ignoring_case=fmean(s.score.exact_ignoring_case for s in samples),
        cer=fmean(s.score.cer for s in samples),
        trigram=fmean(s.score.trigram for s in samples),
        no_text_rate=fmean(s.no_text for s in samples),
        ms_per_prompt=seconds * 1000 / len(samples),
        exact_folded=fmean(s.score.exact_folded for s in samples),
        cer_folded=fmean(s.score.cer_folded for s in samples),
        flat_rate=None if any(s.flat is None for s in samples) else fmean(bool(s.flat) for s in samples),
    )


def run_text_accuracy(
    transcripts: Sequence[str],
    renderer: Renderer,
    request: RenderRequest,
    candidate_counts: Sequence[int] = (1, 4, 8),
    on_sample: Callable[[Sample], None] | None = None,
    warm_up: bool = True,
    describe: Describe | None = None,
) -> TextAccuracyReport:
    """Render and score every transcript under every candidate count; `on_sample` reports progress.

    `request` carries everything but the prompt, the candidate count and the per-transcript seed
    (sampler, steps, guidance, first seed: `request.seed`, 0 when unset). With `warm_up`, one untimed
    render at the largest count comes first, so the first setting timed (the baseline) does not pay
    for starting OCR processes, CUDA kernels and caches that the later settings get for free.
    """
    if not transcripts:
        raise ValueError("the benchmark needs at least one transcript")
    blank = [i for i, t in enumerate(transcripts) if not t.strip()]
    if blank:
        raise ValueError(f"transcripts {blank} are empty: a text-accuracy benchmark needs text to read")
    if not candidate_counts or any(n < 1 for n in candidate_counts):
        raise ValueError(f"candidate counts must be integers >= 1, got {list(candidate_counts)}")
    first_seed = request.seed or 0
    if warm_up:
        renderer.render(replace(request, prompt=transcripts[0], candidates=max(candidate_counts), seed=first_seed))
    summaries, all_samples = [], []
    for count in candidate_counts:
        samples = []
        started = time.perf_counter()
        for index, transcript in enumerate(transcripts):
            result = renderer.render(replace(request, prompt=transcript, candidates=count, seed=first_seed + index))
            winner = result.winner
            with Image.open(io.BytesIO(winner.png)) as image:
                picture = image.convert("RGB")
            reading = winner.ocr_text or ""
            template, flat = None, None
            if describe is not None:
                template, boxes = describe(transcript, first_seed + index, count)
                flat = is_flat(picture, boxes)
            sample = Sample(transcript, count, picture, reading, score_text(transcript, reading), template, flat)
            samples.append(sample)
            if on_sample:
                on_sample(sample)
        summaries.append(_summarise(count, samples, time.perf_counter() - started))
        all_samples.extend(samples)
    return TextAccuracyReport(tuple(summaries), tuple(all_samples))


def report_table(report: TextAccuracyReport, title: str = "text accuracy", ceiling: TextAccuracyReport | None = None) -> Table:
    """One row per candidate count; fits 80 columns (the prompt count, equal in every row, belongs in `title`).

    `ceiling`, when given, adds its rows below, marked: the same transcripts drawn with a font (what a
    model that copied its layout perfectly would score), so the model's rows read against the best."""
    table = Table(title=title)
    for column in ("candidates", "exact", "folded", "any case", "CER", "folded", "trigram", "no text", "flat", "ms/prompt"):
        table.add_column(column, justify="right")
    parts = [(report, "")] + ([(ceiling, " font")] if ceiling is not None else [])
    for part, mark in parts:
        for s in part.summaries:
            label = f"{s.candidates} (baseline)" if s.candidates == 1 and not mark else f"{s.candidates}"
            table.add_row(
                label + mark, f"{s.exact:.1%}", f"{s.exact_folded:.1%}",
                f"{s.exact_ignoring_case:.1%}", f"{s.cer:.3f}", f"{s.cer_folded:.3f}", f"{s.trigram:.3f}", f"{s.no_text_rate:.1%}",
                "—" if s.flat_rate is None else f"{s.flat_rate:.1%}", f"{s.ms_per_prompt:,.0f}",
            )
    return table


def template_breakdown(report: TextAccuracyReport) -> Table:
    """Per template and candidate count: transcripts, exact (folded), CER (folded) and flat share."""
    table = Table(title="by template (line breaks folded)")
    for column in ("template", "candidates", "transcripts", "exact", "CER", "flat"):
        table.add_column(column, justify="right")
    groups: dict[tuple[str, int], list[Sample]] = {}
    for sample in report.samples:
        groups.setdefault((sample.template or "?", sample.candidates), []).append(sample)
    for (template, count), samples in sorted(groups.items()):
        flats = [s.flat for s in samples if s.flat is not None]
        table.add_row(
            template, str(count), str(len(samples)), f"{fmean(s.score.exact_folded for s in samples):.1%}",
            f"{fmean(s.score.cer_folded for s in samples):.3f}", f"{fmean(flats):.1%}" if flats else "—",
        )
    return table


def write_template_sheets(report: TextAccuracyReport, path: Path | str, thumb: int = 192) -> list[Path]:
    """One contact sheet per template, next to `path` (`NAME-TEMPLATE.png`), of that template's samples."""
    base = Path(path)
    written = []
    for template in sorted({s.template for s in report.samples if s.template}):
        subset = TextAccuracyReport(report.summaries, tuple(s for s in report.samples if s.template == template))
        written.append(write_contact_sheet(subset, base.with_name(f"{base.stem}-{template}{base.suffix}"), thumb=thumb))
    return written


def print_report(report: TextAccuracyReport, console: Console | None = None) -> None:
    (console or Console()).print(report_table(report))


def write_contact_sheet(report: TextAccuracyReport, path: Path | str, thumb: int = 128, max_rows: int = 40) -> Path:
    """A PNG grid: one row per transcript (first `max_rows`), one column per candidate count.

    Each cell shows the winning image and its reading, green when it matches exactly, red otherwise, so a
    person can see at a glance what kind of mistakes the model makes.
    """
    counts = [s.candidates for s in report.summaries]
    transcripts = list(dict.fromkeys(s.transcript for s in report.samples))[:max_rows]
    by_key = {(s.transcript, s.candidates): s for s in report.samples}
    font = ImageFont.truetype(str(available_fonts()[0]), 11)
    label_w, caption_h, header_h = 180, 30, 20
    sheet = Image.new("RGB", (label_w + thumb * len(counts), header_h + (thumb + caption_h) * len(transcripts)), "white")
    draw = ImageDraw.Draw(sheet)
    for col, count in enumerate(counts):
        draw.text((label_w + col * thumb + 4, 4), f"{count} candidate(s)", fill="black", font=font)
    for row, transcript in enumerate(transcripts):
        y = header_h + row * (thumb + caption_h)
        draw.multiline_text((4, y + 4), _clipped(transcript, label_w, thumb), fill="black", font=font)
        for col, count in enumerate(counts):
            sample = by_key[(transcript, count)]
            x = label_w + col * thumb
            sheet.paste(sample.image.convert("RGB").resize((thumb, thumb)), (x, y))
            colour = (0, 130, 0) if sample.score.exact_folded else (190, 0, 0)
            caption = sample.reading.replace("\n", " / ") or "(no text)"
            draw.text((x + 2, y + thumb + 2), caption[: thumb // 6], fill=colour, font=font)
            draw.text((x + 2, y + thumb + 15), f"trigram {sample.score.trigram:.2f}", fill="gray", font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _clipped(transcript: str, width: int, height: int, char_px: int = 6, line_px: int = 13) -> str:
    """The transcript's start, wrapped to fit a `width` x `height` label cell of the contact sheet."""
    columns, rows = max(1, width // char_px), max(1, height // line_px)
    lines = [part[i : i + columns] for part in transcript.split("\n") for i in range(0, max(len(part), 1), columns)]
    return "\n".join(lines[:rows]) + ("…" if len(lines) > rows else "")
