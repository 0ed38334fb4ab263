"""`glyphbot bench text-accuracy` end to end: tiny checkpoints trained in the test, the real cascade and reader."""

import re
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()
FAST = ["--steps", "1", "--sr-steps", "1", "--device", "cpu"]


def bench(*args: str):
    return runner.invoke(app, ["bench", "text-accuracy", *args])


def test_one_row_per_candidate_count_and_a_contact_sheet(tiny_checkpoints: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# two signs\nOPEN\nNO\\nENTRY\n")
    sheet = tmp_path / "out" / "sheet.png"
    result = bench("--prompts", str(prompts), "--candidates", "1,2", "--checkpoint-dir", str(tiny_checkpoints),
                   "--sheet", str(sheet), *FAST)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if re.match(r"[│|]\s+\d", line)]
    # the cascade's rows, then the ceiling's: font renders of the same layouts, read the same way
    assert [re.split(r"[│|]", row)[1].strip() for row in rows] == ["1 (baseline)", "2", "1 font", "2 font"]
    for row in rows:
        cells = [cell.strip() for cell in re.split(r"[│|]", row)[2:-1]]
        exact, folded, any_case, cer, cer_folded, trigram, no_text, flat, ms = cells
        assert exact.endswith("%") and folded.endswith("%") and any_case.endswith("%") and no_text.endswith("%") and flat.endswith("%")
        assert 0 <= float(cer) and 0 <= float(cer_folded) <= float(cer) + 1e-9 and 0 <= float(trigram) <= 1 and float(ms.replace(",", "")) > 0
    assert "text accuracy of 2 transcripts" in result.stdout
    for column in ("folded", "any case", "CER", "trigram", "no text", "flat", "ms/prompt", "by template"):
        assert column in result.stdout
    with Image.open(sheet) as image:  # a row per transcript, a column per candidate count
        assert image.size == (180 + 2 * 128, 20 + 2 * (128 + 30))


def test_held_out_transcripts_are_the_default(tiny_checkpoints: Path, tmp_path: Path) -> None:
    result = bench("--limit", "1", "--candidates", "1", "--checkpoint-dir", str(tiny_checkpoints),
                   "--sheet", str(tmp_path / "s.png"), *FAST)
    assert result.exit_code == 0, result.output
    assert "text accuracy of 1 transcripts" in result.stdout and (tmp_path / "s.png").is_file()


def test_without_a_trained_checkpoint_it_says_so(tmp_path: Path) -> None:
    result = bench("--checkpoint-dir", str(tmp_path), "--sheet", str(tmp_path / "s.png"))
    assert result.exit_code == 2
    assert "no trained base checkpoint" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--candidates", "1,x"], "comma-separated whole numbers"),
        (["--candidates", "0,4"], "at least 1"),
        (["--candidates", "1,99"], "at most 8"),
        (["--steps", "0"], "generation.num_inference_steps"),
        (["--scheduler", "euler"], "generation.scheduler"),
        (["--device", "cuda"], "CUDA"),
    ],
)
def test_bad_options_are_refused_before_rendering(tiny_checkpoints: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = bench(*args, "--checkpoint-dir", str(tiny_checkpoints), "--sheet", str(tmp_path / "s.png"))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "s.png").exists()


def test_a_sheet_path_that_cannot_be_written_is_refused_before_rendering(tiny_checkpoints: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = bench("--checkpoint-dir", str(tiny_checkpoints), "--sheet", str(blocker / "s.png"))
    assert result.exit_code == 2 and "error:" in result.stderr and "file" in result.stderr


def test_a_bad_prompt_file_names_its_line(tiny_checkpoints: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("OPEN\nOPEN\n")
    result = bench("--prompts", str(prompts), "--checkpoint-dir", str(tiny_checkpoints), "--sheet", str(tmp_path / "s.png"))
    assert result.exit_code == 2 and "prompts.txt:2: duplicate of line 1" in result.stderr


def test_layout_none_and_no_ceiling(tiny_checkpoints: Path, tmp_path: Path) -> None:
    result = bench("--limit", "1", "--candidates", "1", "--layout", "none", "--no-ceiling", "--checkpoint-dir",
                   str(tiny_checkpoints), "--sheet", str(tmp_path / "s.png"), *FAST)
    assert result.exit_code == 0, result.output
    assert "layout none" in result.stdout and " font " not in result.stdout


def test_templates_are_reported_with_a_sheet_per_template(tiny_checkpoints: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"  # short: the tiny model takes 63 bytes
    prompts.write_text("Al\\n@al\\nhi there all\nNobody:\\nMe: hi\n")
    sheet = tmp_path / "long.png"
    result = bench("--prompts", str(prompts), "--candidates", "1", "--no-ceiling", "--checkpoint-dir", str(tiny_checkpoints),
                   "--sheet", str(sheet), *FAST)
    assert result.exit_code == 0, result.output
    assert "text accuracy of 2 transcripts" in result.stdout and "by template" in result.stdout
    assert (tmp_path / "long-tweet.png").is_file() and (tmp_path / "long-meme.png").is_file()


def test_an_unknown_template_is_refused_naming_the_choices(tiny_checkpoints: Path) -> None:
    result = bench("--long", "--template", "sonnet", "--checkpoint-dir", str(tiny_checkpoints), *FAST)
    assert result.exit_code == 2 and "tweet" in result.output
