"""`glyphbot read`, `bench ocr` and `bench ocr-validate` through Typer's runner, with the real reader."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from ocr.fontrender import render_text
from ocr.transcripts import format_transcript, image_blocks

runner = CliRunner()


@pytest.fixture(scope="module")
def sign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "sign.png"
    render_text("Back soon\n10 min", 256, max_font_px=40).save(path)
    return path


def test_read_prints_the_transcript_block(sign: Path) -> None:
    result = runner.invoke(app, ["read", str(sign)])
    assert result.exit_code == 0, result.output
    assert result.stdout == format_transcript("Back soon\n10 min")


def test_read_names_each_image_and_reports_bad_ones(sign: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage")
    result = runner.invoke(app, ["read", str(sign), str(bad)])
    assert result.exit_code == 1
    assert f"{sign}:" in result.stdout
    assert [b.text for b in image_blocks(result.stdout)] == ["Back soon\n10 min"]
    assert "broken.png" in result.stderr and "error:" in result.stderr


def test_read_json_has_lines_boxes_and_confidences(sign: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.gif"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["read", "--json", str(sign), str(empty)])
    assert result.exit_code == 1
    good, failed = json.loads(result.stdout)
    assert good["text"] == "Back soon\n10 min" and good["width"] == 256
    assert [line["text"] for line in good["lines"]] == ["Back soon", "10 min"]
    assert set(good["lines"][0]["box"]) == {"left", "top", "width", "height"}
    assert all(line["confidence"] >= 65 for line in good["lines"])
    assert "empty" in failed["error"]


def test_read_rejects_out_of_range_options(sign: Path) -> None:
    result = runner.invoke(app, ["read", "--min-confidence", "150", str(sign)])
    assert result.exit_code == 2 and "min_line_confidence" in result.output


def test_bench_ocr_prints_serial_parallel_and_stacked() -> None:
    result = runner.invoke(app, ["bench", "ocr", "--count", "2", "--size", "128", "--repeats", "1", "--workers", "2"])
    assert result.exit_code == 0, result.output
    for expected in ("serial (baseline)", "parallel, 2 processes", "stacked into one image", "ms/image", "/2 "):
        assert expected in result.stdout


def test_bench_ocr_validate_passes_on_font_drawn_text() -> None:
    result = runner.invoke(app, ["bench", "ocr-validate", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "PASS: exact match" in result.stdout


def test_bench_ocr_validate_fails_loudly_below_the_requirement() -> None:
    result = runner.invoke(app, ["bench", "ocr-validate", "--limit", "1", "--size", "40", "--required", "1.01"])
    assert result.exit_code == 1 and "FAIL" in result.stdout
