"""The text-accuracy benchmark core, with font-drawn candidates read by the real tesseract."""

from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from generation.types import RenderRequest
from ocr.benchmark import print_report, run_text_accuracy, write_contact_sheet
from ocr.reader import Reader
from tests.ocr.doubles import FontRenderer

TRANSCRIPTS = ["CLOSED", "WET PAINT", "EXIT", "GATE 9"]


def right_blank_or_lower(transcript: str, seed: int) -> str:
    """Candidate seed s draws the text right when s % 3 == 0, nothing when 1, and in lower case when 2."""
    return [transcript, "", transcript.lower()][seed % 3]


@pytest.fixture(scope="module")
def renderer(reader: Reader) -> FontRenderer:
    return FontRenderer(right_blank_or_lower, reader)


@pytest.fixture(scope="module")
def report(renderer: FontRenderer):
    return run_text_accuracy(TRANSCRIPTS, renderer, RenderRequest("", num_inference_steps=7), candidate_counts=(1, 3))


def test_each_setting_renders_every_transcript_from_the_same_seeds(report, renderer: FontRenderer) -> None:
    asked = [(r.prompt, r.candidates, r.seed, r.num_inference_steps) for r in renderer.requests]
    warm_up = ("CLOSED", 3, 0, 7)
    assert asked == [warm_up] + [(t, n, i, 7) for n in (1, 3) for i, t in enumerate(TRANSCRIPTS)]


def test_more_candidates_read_better(report) -> None:
    one, three = report.summaries
    assert (one.candidates, one.prompts, three.candidates) == (1, 4, 3)
    # seeds 0..3 with one candidate: right, blank, lower case, right
    assert (one.exact, one.exact_ignoring_case, one.no_text_rate) == (0.5, 0.75, 0.25)
    assert (three.exact, three.exact_ignoring_case, three.no_text_rate, three.cer, three.trigram) == (1.0, 1.0, 0.0, 0.0, 1.0)
    assert one.cer > 0 and one.trigram < 1
    assert len(report.samples) == 8


def test_table_prints_every_setting(report) -> None:
    console = Console(record=True, width=120)
    print_report(report, console)
    text = console.export_text()
    assert "1 (baseline)" in text and "50.0%" in text and "100.0%" in text and "no text" in text and "ms/prompt" in text


def test_contact_sheet_has_a_cell_per_transcript_and_setting(report, tmp_path: Path) -> None:
    path = write_contact_sheet(report, tmp_path / "sheets" / "accuracy.png", thumb=64)
    with Image.open(path) as sheet:
        assert sheet.size == (180 + 2 * 64, 20 + 4 * (64 + 30))


@pytest.mark.parametrize(
    ("transcripts", "counts", "message"),
    [([], (1,), "at least one transcript"), (["A", " "], (1,), r"\[1\] are empty"), (["A"], (0,), ">= 1")],
)
def test_bad_benchmark_input(transcripts: list[str], counts: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_text_accuracy(transcripts, FontRenderer(right_blank_or_lower, Reader()), RenderRequest(""), candidate_counts=counts)
