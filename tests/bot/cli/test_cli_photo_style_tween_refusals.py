"""`glyphbot imagine --box/--where/--style-image/--style-strength` and `glyphbot tween` refuse bad
input with one line and exit 2, before anything is drawn or queued."""

from __future__ import annotations

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app
from generation.schedulers import training_scheduler
from generation.unet import GlyphUNet2DModel

from tests.generation.tiny_models import tiny_config
from .test_generation_commands import embedded_storage  # noqa: F401  the autouse fixture: the embedded defaults under tmp

runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny untrained base saved the way `glyphbot train` saves one (weights, scheduler, training.json)."""
    root = tmp_path_factory.mktemp("checkpoints")
    GlyphUNet2DModel(**tiny_config("tiny-base")).save_pretrained(root / "base")
    training_scheduler().save_pretrained(root / "base")
    (root / "base" / "training.json").write_text("{}")
    return root


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (120, 90), (30, 90, 40)).save(path)
    return path


def _imagine(checkpoints, tmp_path, *options: str):
    return runner.invoke(app, [
        "imagine", "SALE", "--checkpoint-dir", str(checkpoints), "--out", str(tmp_path / "out.png"), "--device", "cpu",
        "--steps", "1", "--candidates", "1", *options,
    ])


def _one_line_usage_error(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("options", [["--box", "10,10,60,30"], ["--where", "bottom"]], ids=["box", "where"])
def test_a_box_without_a_picture_is_one_line_and_exit_2(checkpoints, tmp_path, options):
    result = _imagine(checkpoints, tmp_path, *options)
    _one_line_usage_error(result, "--box and --where write into a picture: give it with --image")
    assert not (tmp_path / "out.png").exists()


def test_box_and_where_together_are_refused(checkpoints, tmp_path, photo):
    result = _imagine(checkpoints, tmp_path, "--image", str(photo), "--box", "10,10,60,30", "--where", "top")
    _one_line_usage_error(result, "give --box or --where, not both")


@pytest.mark.parametrize("box", [
    "1,2,3", "1,2,3,4,5", "a,b,c,d", "10,10,60", "1.5,2,30,30", "",
    # Regression: these passed the old check (lstrip("-"), str.isdigit) and then crashed int() with a traceback.
    "10,10,--60,30", "10,10,60,3\u00b2",
])
def test_a_malformed_box_is_refused(checkpoints, tmp_path, photo, box):
    result = _imagine(checkpoints, tmp_path, "--image", str(photo), "--box", box)
    _one_line_usage_error(result, "--box: a box is four whole numbers X,Y,W,H")
    assert repr(box) in result.output


def test_an_unknown_where_is_refused(checkpoints, tmp_path, photo):
    result = _imagine(checkpoints, tmp_path, "--image", str(photo), "--where", "middle")
    _one_line_usage_error(result, "--where: place must be one of top, center, bottom")


@pytest.mark.parametrize("box, message", [
    ("100,10,60,30", "reaches past the picture's right edge (120 px wide)"),
    ("-5,10,60,30", "starts outside the picture"),
    ("10,10,8,30", "a box needs at least 16 px a side"),
    (" 10, 10, 60 ,30", None),  # spaces around the numbers are fine: this box fits, so the check passes it on
])
def test_a_box_that_does_not_fit_the_picture_is_refused(checkpoints, tmp_path, photo, box, message, monkeypatch):
    if message is None:  # a good box: stop right after the check instead of rendering
        import bot.cli.generation_commands as commands

        checked = []

        def checked_then_stop(settings, request, hand_over):
            checked.append(request.box)
            raise typer.Exit(0)

        monkeypatch.setattr(commands, "_render_as_job", checked_then_stop)
        result = _imagine(checkpoints, tmp_path, "--image", str(photo), "--box", box)
        assert (result.exit_code, checked) == (0, [(10, 10, 60, 30)]), result.output
        return
    result = _imagine(checkpoints, tmp_path, "--image", str(photo), "--box", box)
    _one_line_usage_error(result, message)


@pytest.mark.parametrize("strength", ["0", "1.5", "-1"])
def test_a_style_strength_outside_its_range_is_refused(checkpoints, tmp_path, strength):
    look = tmp_path / "look.png"
    Image.new("RGB", (32, 32), (200, 40, 40)).save(look)
    result = _imagine(checkpoints, tmp_path, "--style-image", str(look), "--style-strength", strength)
    _one_line_usage_error(result, "style strength")


def test_a_corrupt_style_image_is_refused(checkpoints, tmp_path):
    broken = tmp_path / "look.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = _imagine(checkpoints, tmp_path, "--style-image", str(broken))
    assert result.exit_code == 2, result.output
    assert str(broken) in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["HELLO", "HELLO  "], "the tween's two ends are the same text"),
    (["OPEN", "SHUT", "--frames", "1"], "frames 1 is outside 2..48"),
    (["OPEN", "SHUT", "--frames", "49"], "frames 49 is outside 2..48"),
])
def test_tween_refuses_bad_requests(checkpoints, tmp_path, args, message):
    result = runner.invoke(app, ["tween", *args, "--checkpoint-dir", str(checkpoints), "--out", str(tmp_path / "t.gif"), "--device", "cpu"])
    _one_line_usage_error(result, message)
    assert not (tmp_path / "t.gif").exists()
