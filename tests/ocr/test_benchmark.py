"""The text-accuracy benchmark core, with font-drawn candidates read by the real tesseract."""

from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from ocr.benchmark import print_report, run_text_accuracy, write_contact_sheet
from ocr.policy import OcrSettings
from ocr.reader import Reader
from ocr.rerank import Ranking, rejection_sample
from tests.ocr.doubles import FontModel

TRANSCRIPTS = ["CLOSED", "WET PAINT", "EXIT", "GATE 9"]


def make_generate(reader: Reader):
    """Candidate seed s draws the text right when s % 3 == 0, nothing when 1, and in lower case when 2."""

    def generate(transcript: str, n: int, seed: int) -> Ranking:
        variants = [transcript, "", transcript.lower()]
        model = FontModel([variants[(seed + j) % 3] for j in range(n)])
        return rejection_sample(transcript, n, model.make_base, None, reader, OcrSettings(parallel_workers=2))

    return generate


@pytest.fixture(scope="module")
def report(reader: Reader):
    return run_text_accuracy(TRANSCRIPTS, make_generate(reader), candidate_counts=(1, 3))


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
    assert "candidates" in text and "50.0%" in text and "100.0%" in text and "no text" in text


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
        run_text_accuracy(transcripts, lambda t, n, s: None, candidate_counts=counts)  # type: ignore[arg-type,return-value]
