"""`glyphbot imagine`, `train` and `bench sample` end to end on tiny checkpoints trained in the test."""

import json
import re
import shutil

import pytest
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app

from tests.generation.tiny_models import CONFIGS

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


@pytest.fixture(autouse=True)
def embedded_storage(tmp_path, monkeypatch):
    """imagine keeps its job in the history: the embedded default (SQLite + image folder) under tmp."""
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GLYPHBOT_DATABASE__URL", raising=False)
    monkeypatch.delenv("GLYPHBOT_CONFIG", raising=False)
    return tmp_path / "data"


def _history():
    from config.settings import load_settings
    from storage.facade import open_storage

    storage = open_storage(load_settings())
    return storage, storage.jobs.list().jobs


def test_imagine_without_a_trained_checkpoint_says_so(tmp_path):
    result = runner.invoke(app, ["imagine", "HELLO", "--checkpoint-dir", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "no trained base checkpoint" in result.output
    assert not (tmp_path / "x.png").exists()


def test_imagine_writes_the_winner_and_reports_every_candidate(tiny_checkpoints, tmp_path):
    out = tmp_path / "hello.png"
    result = runner.invoke(app, [
        "imagine", "HI\\nTHERE", "--checkpoint-dir", str(tiny_checkpoints), "--out", str(out), "--candidates", "2",
        "--steps", "2", "--seed", "7", "--device", "cpu", "--all", "--json",
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert Image.open(out).size == (32, 32)
    assert [c["stage"] for c in report["candidates"]] == ["base", "base", "sr", "sr"]
    assert [c["seed"] for c in report["candidates"][:2]] == [7, 8]
    assert sum(c["chosen"] for c in report["candidates"]) == 1
    assert all(isinstance(c["ocr_score"], float) for c in report["candidates"])
    assert len(list(tmp_path.glob("hello-*.png"))) == 4

    storage, [job] = _history()
    assert (job.id, job.source, job.status, job.prompt) == (report["job"], "cli", "succeeded", "HI\nTHERE")
    assert report["seed"] == job.seed == 7, "the seed that redraws the picture, not a stage's own"
    images = storage.jobs.images_of(job.id, include_hidden=True)
    assert [(i.stage, i.seed) for i in images] == [(c["stage"], c["seed"]) for c in report["candidates"]]
    assert storage.images.read(next(i for i in images if i.chosen).sha256) == out.read_bytes()


def test_imagine_says_in_one_line_where_the_picture_is_and_what_ocr_read(tiny_checkpoints, tmp_path):
    out = tmp_path / "hi.png"
    result = runner.invoke(app, ["imagine", "HI", "--checkpoint-dir", str(tiny_checkpoints), "--out", str(out),
                                 "--candidates", "1", "--steps", "2", "--seed", "3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    _, [job] = _history()
    [line] = result.stdout.splitlines()  # the progress bar is on stderr
    assert line.startswith(f"{out}: ") and f"job {job.id};" in line and "(seed 3)" in line
    assert re.search(r"(reads back exactly|OCR read '.*') \(seed 3\); job \d+; \d+\.\d s$", line), line


@pytest.mark.parametrize(
    "args, message",
    [
        (["bell\x07"], "unsupported character U+0007"),
        (["x" * 100], "too large to be legible"),
        (["hi", "--guidance", "-1"], "guidance scale -1.0 is outside"),
        (["hi", "--steps", "0"], "inference steps 0 is outside"),
        (["hi", "--candidates", "99"], "--candidates"),
        (["hi", "--scheduler", "euler"], "'euler' is not one of"),
        (["hi", "--device", "cuda"], "CUDA"),
    ],
)
def test_imagine_rejects_bad_input_clearly(tiny_checkpoints, tmp_path, args, message, embedded_storage):
    result = runner.invoke(app, ["imagine", *args, "--checkpoint-dir", str(tiny_checkpoints), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "x.png").exists()
    assert not embedded_storage.exists()  # refused before anything was queued


def test_imagine_reports_a_refused_submission_plainly(tiny_checkpoints, tmp_path):
    from storage.moderation import Moderation

    storage, _ = _history()
    Moderation(storage.db).block_term("forbidden", moderator="tester")
    result = runner.invoke(app, ["imagine", "so forbidden", "--checkpoint-dir", str(tiny_checkpoints), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "blocked term" in result.output
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
    assert "original = ancestral DDPM 250 + 250" in result.output and "speed-up at N=2" in result.output
    # the 25M cascade is timed in the same run, beside the shipped one
    assert "25M base 64px batch 2" in result.output and "25M sr 256px batch 2" in result.output


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


def test_the_cli_starts_without_loading_heavy_stacks():
    """`glyphbot --help` stays fast, and `glyphbot train` runs on a GPU host that has torch and diffusers
    but not the bot's database, web or chat libraries (generation/gpu_session.sh relies on it)."""
    import subprocess
    import sys

    probe = "import sys, bot.cli; print(sorted(m for m in ('torch', 'sqlalchemy', 'aiohttp', 'discord', 'pytumblr') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


@pytest.mark.parametrize("option", ["--init-from", "--warm-start-base"])
def test_train_from_a_folder_without_a_model_is_one_line(tmp_path, option):
    result = runner.invoke(app, ["train", "sr", "--output", str(tmp_path / "run"), option, str(tmp_path / "missing"), "--steps", "1"])
    assert result.exit_code == 2, result.output
    assert f"{option} {tmp_path / 'missing'}: no trained model there" in result.output and "Traceback" not in result.output


def test_bench_pictures_measures_every_decoding_path_beside_a_small_picture(tiny_checkpoints):
    result = runner.invoke(app, ["bench", "pictures", "--checkpoint-dir", str(tiny_checkpoints), "--side", "256", "--limit-mb", "1000"])
    assert result.exit_code == 0, result.output
    for path in ("img2img", "reference picture", "text into a photo's box", "meme of the picture"):
        assert path in result.output
    assert "64x64 PNG" in result.output and "256x256 PNG" in result.output
    assert "refused" not in result.output, "every path draws a picture the gate admits"


def test_bench_cli_times_whole_processes_beside_importing_torch(tiny_checkpoints):
    result = runner.invoke(app, ["bench", "cli", "--repeats", "1", "--checkpoint-dir", str(tiny_checkpoints)])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line.split("│")[2:4] for line in result.output.splitlines() if line.count("│") == 4}
    assert 'python -c "import torch" (baseline)' in rows
    assert rows["glyphbot imagine <400 characters> (refused)"][1].strip() == "2"
    assert rows["glyphbot imagine HELLO --candidates 1"][1].strip() == "0"
    assert rows["glyphbot imagine HELLO --candidates 1, a worker running"][1].strip() == "0"
