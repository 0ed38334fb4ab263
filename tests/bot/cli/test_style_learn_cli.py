"""`glyphbot style learn`: bad examples stop with one line before the model loads; a good set is
learned (a few steps of the tiny model) and kept, then usable by name and listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app
from generation.layout import GlyphLayout, find_fonts

from .test_cli_photo_style_tween_refusals import _one_line_usage_error, checkpoints, embedded_storage  # noqa: F401  fixtures

runner = CliRunner()


def _examples(folder, count: int, size: int = 64, with_text: bool = True) -> list[str]:
    font = find_fonts()[0]
    paths = []
    for index in range(count):
        layout = GlyphLayout(f"AB{index}", font, "left", 0.25, 0.2, 0.1, 0.3)
        path = folder / f"ex{index}.png"
        layout.render(size, (255, 255, 255), (200, 30, 30)).save(path)
        if with_text:
            path.with_suffix(".txt").write_text(f"AB{index}")
        paths.append(str(path))
    return paths


@pytest.fixture
def cascade(tmp_path_factory):
    """Tiny untrained base and SR checkpoints, saved the way `glyphbot train` saves them."""
    from generation.schedulers import training_scheduler
    from generation.unet import GlyphUNet2DModel
    from tests.generation.tiny_models import tiny_config

    root = tmp_path_factory.mktemp("cascade")
    for stage in ("base", "sr"):
        GlyphUNet2DModel(**tiny_config(f"tiny-{stage}")).save_pretrained(root / stage)
        training_scheduler().save_pretrained(root / stage)
        (root / stage / "training.json").write_text("{}")
    return root


def _learn(checkpoints, *arguments: str):  # noqa: F811  the fixture
    return runner.invoke(app, ["style", "learn", *arguments, "--checkpoint-dir", str(checkpoints), "--threads", "1", "--sr-steps", "2"])


def test_two_examples_are_too_few(checkpoints, tmp_path):  # noqa: F811
    _one_line_usage_error(_learn(checkpoints, "red", *_examples(tmp_path, 2)), "from 3 to 20 example pictures; got 2")


def test_a_corrupt_example_is_named(checkpoints, tmp_path):  # noqa: F811
    paths = _examples(tmp_path, 3)
    with open(paths[1], "wb") as broken:
        broken.write(b"\x89PNG\r\n\x1a\nnot really")
    result = _learn(checkpoints, "red", *paths)
    assert result.exit_code == 2 and paths[1] in result.output and "Traceback" not in result.output


def test_a_tiny_example_is_named(checkpoints, tmp_path):  # noqa: F811
    paths = _examples(tmp_path, 3)
    Image.new("RGB", (20, 20), (200, 30, 30)).save(paths[2])
    _one_line_usage_error(_learn(checkpoints, "red", *paths), "is 20x20 px; each example needs at least 32 px")


def test_a_missing_example_is_one_line(checkpoints, tmp_path):  # noqa: F811
    result = _learn(checkpoints, "red", *_examples(tmp_path, 2), str(tmp_path / "gone.png"))
    assert result.exit_code == 1 and "gone.png: no such file" in result.output


def test_a_style_is_learned_kept_listed_and_refused_twice(checkpoints, tmp_path):  # noqa: F811
    paths = _examples(tmp_path, 3)
    result = _learn(checkpoints, "red", *paths, "--steps", "2")
    assert result.exit_code == 0, result.output
    assert '"style": "red"' in result.output and '"AB1"' in result.output
    assert (tmp_path / "data" / "styles" / "red.safetensors").is_file()
    listed = runner.invoke(app, ["style", "list"])
    assert "red" in listed.output and "     2" in listed.output
    again = _learn(checkpoints, "red", *paths, "--steps", "2")
    assert again.exit_code == 1 and "already a style 'red'" in again.output and "learning style" not in again.output
    assert _learn(checkpoints, "red", *paths, "--steps", "2", "--replace").exit_code == 0


@pytest.mark.parametrize("name", ["Has Space", "x" * 33])
def test_a_bad_name_stops_before_learning(checkpoints, tmp_path, name):  # noqa: F811
    result = _learn(checkpoints, name, *_examples(tmp_path, 3), "--steps", "2")
    _one_line_usage_error(result, "must be 1 to 32 characters of a-z, 0-9, _ and -")


@pytest.mark.parametrize("fault, words", [("text", "is not a PNG, JPEG, GIF or WebP file"),
                                          ("cut", "is truncated: the file ends before its IEND chunk"),
                                          ("folder", "is a directory, not a picture file")])
def test_an_example_that_is_no_picture_is_named_once_in_one_line(checkpoints, tmp_path, fault, words):  # noqa: F811
    """Regression: the path was said twice (`a.png: a.png: not an image`) and a folder was "no such file"."""
    paths = _examples(tmp_path, 3)
    bad = Path(paths[1])
    if fault == "folder":
        bad.unlink()
        bad.mkdir()
    else:
        bad.write_bytes(bad.read_bytes()[:40] if fault == "cut" else b"just words\n")
    result = _learn(checkpoints, "red", *paths)
    _one_line_usage_error(result, words)
    assert result.output.count(paths[1]) == 1, result.output


def test_a_lora_style_is_learned_by_default_with_its_method_listed(cascade, tmp_path):
    result = _learn(cascade, "neon", *_examples(tmp_path, 3), "--steps", "2", "--rank", "2")
    assert result.exit_code == 0, result.output
    assert '"method": "lora"' in result.output and "drawing 8 prior pictures" in result.output
    assert '"sr_steps": 2' in result.output and "(lora, SR stage)" in result.output
    from config.settings import load_settings
    from generation.styles import StyleTokens
    from storage.facade import open_storage

    learned = StyleTokens.from_bytes(open_storage(load_settings()).styles.tokens("neon"))
    assert learned.grain is not None  # the examples' grain, measured at the SR stage's size
    listed = runner.invoke(app, ["style", "list"])
    assert "neon" in listed.output and "lora" in listed.output
    vectors = _learn(cascade, "chalk", *_examples(tmp_path, 3), "--steps", "2", "--method", "vectors")
    assert vectors.exit_code == 0 and '"method": "vectors"' in vectors.output


def test_an_unknown_method_is_a_usage_error(checkpoints, tmp_path):  # noqa: F811
    _one_line_usage_error(_learn(checkpoints, "neon", *_examples(tmp_path, 3), "--method", "hypernetwork"),
                          "--method must be one of vectors, lora, not 'hypernetwork'")


def _relearn(checkpoints, *arguments: str):  # noqa: F811  the fixture
    return runner.invoke(app, ["style", "relearn", *arguments, "--checkpoint-dir", str(checkpoints), "--threads", "1"])


def test_relearn_learns_a_stale_style_again_from_its_stored_examples(cascade, tmp_path):
    from config.settings import load_settings
    from generation.styles import StyleTokens
    from storage.facade import open_storage

    assert _learn(cascade, "neon", *_examples(tmp_path, 3), "--steps", "2", "--rank", "2").exit_code == 0
    assert "nothing to learn again" in _relearn(cascade, "--all").output
    styles = open_storage(load_settings()).styles
    record = styles.get("neon")
    current = StyleTokens.from_bytes(styles.tokens("neon"))
    stale = StyleTokens(**{**current.__dict__, "model_hash": "0123456789abcdef"})  # as if learned on an older model
    styles.add("neon", record.creator, record.example_hashes, record.steps, record.loss, stale.to_bytes(), stale.model_hash,
               replace=True, method="lora")
    result = _relearn(cascade, "--all")
    assert result.exit_code == 0, result.output
    assert "learned 'neon' again (lora, 2 steps" in result.output
    again = StyleTokens.from_bytes(styles.tokens("neon"))
    assert again.model_hash == current.model_hash and again.transcripts == ("AB0", "AB1", "AB2") and again.rank == 2
    assert again.sr_steps == 2 and again.sr_adapter is not None  # the SR stage's adapter is learned again too
    assert styles.get("neon").creator == record.creator


def test_relearn_needs_a_name_or_all_and_names_an_unknown_style(checkpoints):  # noqa: F811
    _one_line_usage_error(_relearn(checkpoints), "give a style's NAME or --all")
    _one_line_usage_error(_relearn(checkpoints, "neon", "--all"), "give a style's NAME or --all")
    result = _relearn(checkpoints, "nosuch")
    assert result.exit_code == 1 and "there is no style 'nosuch'" in result.output
