"""`glyphbot bench look` and `bench photo` run end to end on a tiny checkpoint and print their tables."""

from __future__ import annotations

from PIL import Image
from typer.testing import CliRunner

from bot.cli import app

from .test_cli_photo_style_tween_refusals import checkpoints, embedded_storage  # noqa: F401  fixtures

runner = CliRunner()


def test_bench_look_compares_guidance_with_img2img(checkpoints, tmp_path):  # noqa: F811
    reference = tmp_path / "ref.png"
    Image.new("RGB", (40, 30), (20, 30, 120)).save(reference)
    figure = tmp_path / "look.png"
    result = runner.invoke(app, ["bench", "look", "--reference", str(reference), "--limit", "1", "--strengths", "1",
                                 "--img2img", "0.5", "--figure", str(figure), "--checkpoint-dir", str(checkpoints)])
    assert result.exit_code == 0, result.output
    for row in ("none", "img2img @ 0.5", "colour guidance @ 1"):
        assert row in result.output
    assert Image.open(figure).height == 4 * 96  # the reference row and three variants


def test_bench_look_needs_exactly_one_target(checkpoints):  # noqa: F811
    result = runner.invoke(app, ["bench", "look", "--checkpoint-dir", str(checkpoints)])
    assert result.exit_code == 2 and "give --style NAME or --reference PICTURE" in result.output


def test_bench_photo_prints_both_seams(checkpoints, tmp_path):  # noqa: F811
    photo = tmp_path / "photo.png"
    Image.new("RGB", (160, 120), (90, 140, 200)).save(photo)
    result = runner.invoke(app, ["bench", "photo", "--photo", str(photo), "--box", "20,20,120,60", "--text", "AB",
                                 "--checkpoint-dir", str(checkpoints)])
    assert result.exit_code == 0, result.output
    assert "hard paste" in result.output and "faded in" in result.output and "20,20,120,60" in result.output


def test_bench_photo_refuses_a_box_outside(checkpoints, tmp_path):  # noqa: F811
    photo = tmp_path / "photo.png"
    Image.new("RGB", (160, 120)).save(photo)
    result = runner.invoke(app, ["bench", "photo", "--photo", str(photo), "--box", "100,20,120,60", "--checkpoint-dir", str(checkpoints)])
    assert result.exit_code == 2 and "right edge" in result.output


def test_bench_look_compares_a_vectors_and_a_lora_style_in_one_table(checkpoints, tmp_path):  # noqa: F811
    from .test_style_learn_cli import _examples, _learn

    examples = _examples(tmp_path, 3)
    assert _learn(checkpoints, "chalk", *examples, "--steps", "2", "--method", "vectors").exit_code == 0
    assert _learn(checkpoints, "neon", *examples, "--steps", "2", "--rank", "2").exit_code == 0
    figure = tmp_path / "look.png"
    result = runner.invoke(app, ["bench", "look", "--style", "chalk", "--style", "neon", "--limit", "1", "--strengths", "1",
                                 "--figure", str(figure), "--checkpoint-dir", str(checkpoints)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for row in ("none", "chalk: vectors only", "chalk: vectors + palette @ 1", "neon: LoRA, no palette, no grain @ 1",
                "neon: LoRA, no palette @ 1", "neon: LoRA + palette @ 1"):
        assert row in result.output
    assert "texture" in result.output and "(targets: " in result.output
    assert Image.open(figure).height == 7 * 96  # the targets' row and six variants


def test_bench_look_refuses_styles_of_different_examples(checkpoints, tmp_path):  # noqa: F811
    from .test_style_learn_cli import _examples, _learn

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert _learn(checkpoints, "chalk", *_examples(tmp_path / "a", 3), "--steps", "1", "--method", "vectors").exit_code == 0
    assert _learn(checkpoints, "neon", *_examples(tmp_path / "b", 4), "--steps", "1", "--prior-weight", "0").exit_code == 0
    result = runner.invoke(app, ["bench", "look", "--style", "chalk", "--style", "neon", "--checkpoint-dir", str(checkpoints)])
    assert result.exit_code == 2 and "learned from the same examples" in result.output
