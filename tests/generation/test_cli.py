"""`glyphbot imagine`, `train` and `bench sample` end to end on tiny checkpoints trained in the test."""

import json
import re
import shutil

import pytest
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app

from .conftest import CONFIGS

runner = CliRunner()
TINY_TEXT = ["--max-lines", "1", "--max-chars", "6", "--max-line-chars", "6"]


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    """A base and an SR checkpoint as `glyphbot train` ships them (a few steps: untrained, but real)."""
    root = tmp_path_factory.mktemp("runs")
    base = runner.invoke(app, [
        "train", "base", "--config", str(CONFIGS / "tiny-base.json"), "--output", str(root / "base"),
        "--steps", "2", "--batch-size", "2", "--warmup-steps", "1", *TINY_TEXT,
    ])
    assert base.exit_code == 0, base.output
    sr = runner.invoke(app, [
        "train", "sr", "--config", str(CONFIGS / "tiny-sr.json"), "--output", str(root / "sr"), "--steps", "2",
        "--batch-size", "2", "--warmup-steps", "1", "--warm-start-base", str(root / "base" / "model"), *TINY_TEXT,
    ])
    assert sr.exit_code == 0, sr.output
    assert "tensors copied" in sr.output
    checkpoints = root / "checkpoints"
    shutil.copytree(root / "base" / "model", checkpoints / "base")
    shutil.copytree(root / "sr" / "model", checkpoints / "sr")
    return checkpoints


def test_imagine_without_a_trained_checkpoint_says_so(tmp_path):
    result = runner.invoke(app, ["imagine", "HELLO", "--checkpoint-dir", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "no trained base checkpoint" in result.output
    assert not (tmp_path / "x.png").exists()


def test_imagine_writes_the_winner_and_reports_every_candidate(tiny_checkpoints, tmp_path):
    out = tmp_path / "hello.png"
    result = runner.invoke(app, [
        "imagine", "HI\\nTHERE", "--checkpoint-dir", str(tiny_checkpoints), "--out", str(out), "--candidates", "2",
        "--steps", "2", "--seed", "7", "--device", "cpu", "--all",
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert Image.open(out).size == (32, 32)
    assert [c["stage"] for c in report["candidates"]] == ["base", "base", "sr", "sr"]
    assert [c["seed"] for c in report["candidates"][:2]] == [7, 8]
    assert sum(c["chosen"] for c in report["candidates"]) == 1
    assert all(isinstance(c["ocr_score"], float) for c in report["candidates"])
    assert len(list(tmp_path.glob("hello-*.png"))) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["bell\x07"], "control"),
        (["x" * 100], "limit"),
        (["hi", "--guidance", "-1"], "guidance_scale"),
        (["hi", "--steps", "0"], "num_inference_steps"),
        (["hi", "--candidates", "99"], "--candidates"),
        (["hi", "--scheduler", "euler"], "unknown scheduler"),
        (["hi", "--device", "cuda"], "CUDA"),
    ],
)
def test_imagine_rejects_bad_input_clearly(tiny_checkpoints, tmp_path, args, message):
    result = runner.invoke(app, ["imagine", *args, "--checkpoint-dir", str(tiny_checkpoints), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "x.png").exists()


def test_imagine_rejects_a_corrupt_init_image(tiny_checkpoints, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = runner.invoke(app, ["imagine", "hi", "--image", str(bad), "--checkpoint-dir", str(tiny_checkpoints)])
    assert result.exit_code == 2 and "bad.png" in result.output


def test_imagine_img2img(tiny_checkpoints, tmp_path):
    init = tmp_path / "init.png"
    Image.new("RGB", (40, 40), "white").save(init)
    result = runner.invoke(app, [
        "imagine", "hi", "--image", str(init), "--strength", "0.5", "--steps", "2", "--candidates", "1",
        "--checkpoint-dir", str(tiny_checkpoints), "--out", str(tmp_path / "o.png"), "--device", "cpu",
    ])
    assert result.exit_code == 0, result.output


def test_bench_sample_prints_both_recipes(tiny_checkpoints):
    result = runner.invoke(app, ["bench", "sample", "--checkpoint-dir", str(tiny_checkpoints), "--batch-sizes", "1,2", "--repeats", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "shipped checkpoints" in result.output
    assert "original = ancestral DDPM 250 + 250" in result.output and "speed-up" in result.output


def test_preview_data_writes_a_grid_and_its_transcripts(tmp_path):
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["preview-data", "--out", str(out), "--size", "32", "--count", "9", *TINY_TEXT])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (96, 96)
    assert sum(line.startswith(("  0:", "  8:")) for line in result.output.splitlines()) == 2


def test_preview_data_refuses_an_impossible_curriculum(tmp_path):
    result = runner.invoke(app, ["preview-data", "--out", str(tmp_path / "g.png"), "--min-lines", "3", "--max-lines", "2"])
    assert result.exit_code == 2 and "min_lines" in result.output
    assert not (tmp_path / "g.png").exists()


def test_bench_data_prints_the_single_process_baseline_beside_the_workers():
    result = runner.invoke(app, ["bench", "data", "--sizes", "16", "--workers", "1", "--samples", "32"])
    assert result.exit_code == 0, result.output
    assert "1 process (baseline)" in result.output and "16px" in result.output
    assert re.search(r"\d+\.\dx", result.output), result.output
