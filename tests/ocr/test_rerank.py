"""Rejection sampling end to end with font-drawn candidates and the real tesseract reader."""

import io

import pytest
from PIL import Image

from ocr.policy import OcrSettings
from ocr.reader import Reader
from ocr.rerank import Candidate, CandidateCountError, rejection_sample
from tests.ocr.doubles import FontModel

SETTINGS = OcrSettings(keep_only_if_above=0.8, parallel_workers=2)


def test_misspelled_candidates_are_pruned_and_the_exact_one_wins(reader: Reader) -> None:
    model = FontModel(["CLOSED", "OPEN LATE", "OPEN LANE", "OPEN LATE"], sr_texts={0: "OPEN LAT"})
    ranking = rejection_sample("OPEN LATE", 4, model.make_base, model.super_resolve, reader, SETTINGS)

    assert [c.text for c in ranking.base] == ["CLOSED", "OPEN LATE", "OPEN LANE", "OPEN LATE"]
    assert ranking.survivors == (1, 3)
    assert [c.payload for c in model.sr_inputs] == ["OPEN LATE"] * 4  # survivors tiled to fill the SR batch
    assert [c.source for c in ranking.sr] == [1, 3, 1, 3]
    # SR slot 0 garbled its input, so the winner is the next slot, not the first survivor
    assert ranking.best is ranking.sr[1]
    assert (ranking.best.text, ranking.best.score) == ("OPEN LATE", 1.0)
    assert ranking.ranked()[-1] is ranking.sr[0]
    assert ranking.ocr_seconds > 0


def test_every_candidate_is_kept_for_storage(reader: Reader) -> None:
    model = FontModel(["HI THERE", "H1 THERE"])
    ranking = rejection_sample("HI THERE", 2, model.make_base, model.super_resolve, reader, SETTINGS, sr_batch=3)
    result = ranking.to_render_result()
    assert [(i.stage, i.seed) for i in result.images] == [("base", 0), ("base", 1), ("sr", 1000), ("sr", 1001), ("sr", 1002)]
    assert all(i.ocr_text is not None and i.ocr_score is not None for i in result.images)
    assert sum(i.chosen for i in result.images) == 1
    assert result.winner.stage == "sr" and result.winner.ocr_text == "HI THERE"
    assert Image.open(io.BytesIO(result.winner.png)).size == (256, 256)


def test_nothing_readable_keeps_all_candidates(reader: Reader) -> None:
    blank = Image.new("RGB", (64, 64), "white")
    ranking = rejection_sample(
        "WORDS", 3, lambda n: [Candidate(blank, i, "base") for i in range(n)], None, reader, SETTINGS
    )
    assert ranking.survivors == (0, 1, 2)
    assert [c.score for c in ranking.base] == [0.0, 0.0, 0.0]
    assert ranking.best is ranking.base[0]


def test_base_only_model_picks_the_best_base(reader: Reader) -> None:
    model = FontModel(["NO ENTRI", "NO ENTRY"])
    ranking = rejection_sample("NO ENTRY", 2, model.make_base, None, reader, SETTINGS)
    assert ranking.sr == () and ranking.best is ranking.base[1]


class RefusingReader:
    def read_many(self, sources):  # pragma: no cover - the test fails if this runs
        raise AssertionError("OCR must be skipped for a text-less prompt")


@pytest.mark.parametrize("transcript", ["", "  \n "])
def test_empty_transcript_skips_ocr(transcript: str) -> None:
    model = FontModel(["", "", ""])
    ranking = rejection_sample(transcript, 3, model.make_base, model.super_resolve, RefusingReader(), SETTINGS)
    assert ranking.survivors == (0, 1, 2)
    assert all(c.text is None and c.score is None for c in (*ranking.base, *ranking.sr))
    assert ranking.best is ranking.sr[0]
    assert ranking.to_render_result().winner.seed == 1000


def test_wrong_candidate_counts_are_reported() -> None:
    model = FontModel([""])
    with pytest.raises(CandidateCountError, match="make_base returned 1 candidates, expected 2"):
        rejection_sample("", 2, model.make_base, None, RefusingReader(), SETTINGS)
    with pytest.raises(CandidateCountError, match="super_resolve returned 0"):
        rejection_sample("", 1, model.make_base, lambda inputs: [], RefusingReader(), SETTINGS)
    with pytest.raises(ValueError, match="at least 1"):
        rejection_sample("x", 0, model.make_base, None, RefusingReader(), SETTINGS)
