"""The job options of styles, photos and tweens at submission: kind and tween ends, styles, a reference picture, a box in a photo."""

from __future__ import annotations

import pytest

from generation.request_parsers import parse_box
from storage.errors import BlockedTermFound, InvalidJob, StyleDeleted, StyleNotFound
from storage.jobs import JobQueue, batch_key
from storage.moderation import Moderation
from storage.validation import png_size, same_request

from .fixtures import add_style, png_of, submission

PNG = png_of(640, 480)


@pytest.mark.parametrize("options, message", [
    (dict(kind="morph"), "job kind 'morph' is not one of imagine, tween"),
    (dict(kind="tween"), "end prompt is empty"),
    (dict(kind="tween", end_prompt="   "), "end prompt is empty"),
    (dict(kind="tween", end_prompt="OPEN"), "the tween's two ends are the same text"),
    (dict(kind="tween", end_prompt=" OPEN \n"), "the tween's two ends are the same text"),
    (dict(kind="tween", end_prompt="SHUT", frames=1), "frames 1 is outside 2..48"),
    (dict(kind="tween", end_prompt="SHUT", frames=49), "frames 49 is outside 2..48"),
    (dict(kind="tween", end_prompt="SHUT\x00"), "end prompt contains the unsupported character U\\+0000"),
    (dict(end_prompt="SHUT"), "an end prompt belongs to a tween job"),
    (dict(style="Red Sign"), "style name 'Red Sign' must be 1 to 32 characters"),
    (dict(style="red", style_strength=0.0), r"style strength 0.0 is outside \(0.0, 1.0\]"),
    (dict(style_image_png=PNG, style_strength=1.5), r"style strength 1.5 is outside"),
    (dict(style_image_png=b"GIF89a..."), "the style image is not a PNG file"),
    (dict(style_tokens=b"x"), "style embeddings are not submitted with a job"),
    (dict(box=(0, 0, 10, 10)), "give the picture too"),
    (dict(init_image_png=PNG, box=(10, 10, 900, 50)), "box 10,10,900,50 reaches past the picture's right edge \\(640 px wide\\)"),
    (dict(init_image_png=PNG, box=(0, 450, 100, 31)), "box 0,450,100,31 reaches past the picture's bottom edge \\(480 px high\\)"),
    (dict(init_image_png=PNG, box=(-1, 0, 10, 10)), "starts outside the picture"),
    (dict(init_image_png=PNG, box=(0, 0, 0, 10)), "has no area"),
    (dict(init_image_png=PNG, box=(0, 0, 10)), "four whole numbers"),
    (dict(init_image_png=PNG, box=(0, 0, 10.5, 10)), "four whole numbers"),
    (dict(init_image_png=b"\x89PNG\r\n\x1a\nrest", box=(0, 0, 10, 10)), "the init image is truncated"),
    (dict(kind="tween", end_prompt="SHUT", init_image_png=PNG, box=(0, 0, 10, 10)), r"a tween takes no picture \(--image\), box"),
    (dict(kind="tween", end_prompt="SHUT", style="neon"), "a tween takes no style"),
    (dict(kind="tween", end_prompt="SHUT", negative_prompt="OPEN"), "a tween takes no negative prompt"),
])
def test_bad_options_fail_clearly_and_queue_nothing(styled_queue: JobQueue, styles, options: dict, message: str) -> None:  # noqa: ANN001
    add_style(styles, "red")
    with pytest.raises(InvalidJob, match=message):
        styled_queue.submit(submission("OPEN", **options))
    assert styled_queue.list().jobs == []


def test_every_new_field_is_kept_and_comes_back_to_the_worker(styled_queue: JobQueue, styles, store) -> None:  # noqa: ANN001
    add_style(styles, "red")
    reference = png_of(32, 32)
    job = styled_queue.submit(submission("SALE", init_image_png=PNG, box=(10, 20, 300, 100), style="red",
                                         style_image_png=reference, style_strength=0.8))
    again = styled_queue.get(job.id)
    assert again == job
    assert (again.kind, again.style, again.style_strength, again.box, again.box_tuple) == (
        "imagine", "red", 0.8, "10,20,300,100", (10, 20, 300, 100))
    assert store.read(again.style_image_hash) == reference
    request = again.render_request(styled_queue.load_init_image(again), style_image_png=styled_queue.load_style_image(again),
                                   style_tokens=styled_queue.load_style_tokens(again))
    assert (request.box, request.style, request.style_image_png, request.style_strength) == ((10, 20, 300, 100), "red", reference, 0.8)
    assert request.style_tokens == styles.tokens("red")
    assert again.render_request().style_tokens is None  # the snapshot never carries embeddings


def test_a_tween_is_kept_with_its_end_and_frames(styled_queue: JobQueue) -> None:
    job = styled_queue.get(styled_queue.submit(submission("OPEN", kind="tween", end_prompt="CLOSED", frames=6)).id)
    assert (job.kind, job.end_prompt, job.frames) == ("tween", "CLOSED", 6)
    request = job.render_request()
    assert (request.kind, request.end_prompt, request.frames) == ("tween", "CLOSED", 6)
    plain = styled_queue.get(styled_queue.submit(submission("OPEN")).id)
    assert (plain.kind, plain.end_prompt, plain.frames, plain.style, plain.box) == ("imagine", "", None, None, None)
    assert plain.render_request().frames == 12  # RenderRequest's default, unused by an imagine job


def test_unknown_and_deleted_styles_are_refused_by_name(styled_queue: JobQueue, styles) -> None:  # noqa: ANN001
    with pytest.raises(InvalidJob, match="there is no style 'blue'") as caught:
        styled_queue.submit(submission("OPEN", style="blue"))
    assert isinstance(caught.value.__cause__, StyleNotFound)
    add_style(styles, "red")
    styles.delete("red", "mia")
    with pytest.raises(InvalidJob, match=r"style 'red' was deleted by mia on \d{4}-") as caught:
        styled_queue.submit(submission("OPEN", style="red"))
    assert isinstance(caught.value.__cause__, StyleDeleted)
    assert styled_queue.list().jobs == []


def test_blocked_terms_are_checked_in_the_end_prompt(styled_queue: JobQueue, db) -> None:  # noqa: ANN001
    Moderation(db).block_term("badword", moderator="mia")
    with pytest.raises(BlockedTermFound):
        styled_queue.submit(submission("OPEN", kind="tween", end_prompt="BAD WORD"))
    assert styled_queue.list().jobs == []


def test_styled_boxed_and_tween_jobs_run_alone(styled_queue: JobQueue, styles) -> None:  # noqa: ANN001
    add_style(styles, "red")
    plain = [styled_queue.submit(submission(text)) for text in ("A", "B")]
    assert plain[0].batch_key == plain[1].batch_key
    alone = [
        styled_queue.submit(submission("C", style="red")),
        styled_queue.submit(submission("D", style="red")),
        styled_queue.submit(submission("E", style_image_png=PNG)),
        styled_queue.submit(submission("F", init_image_png=PNG, box=(0, 0, 16, 16))),
        styled_queue.submit(submission("G", kind="tween", end_prompt="H")),
    ]
    keys = {job.batch_key for job in alone}
    assert len(keys) == len(alone) and plain[0].batch_key not in keys
    claimed = styled_queue.claim("w", lease_s=30, max_batch=8)
    assert [job.prompt for job in claimed] == ["A", "B"]
    assert [job.prompt for job in styled_queue.claim("w", lease_s=30, max_batch=8)] == ["C"]


def test_a_reused_key_with_other_new_options_is_not_the_same_request(styled_queue: JobQueue) -> None:
    job = styled_queue.submit(submission("OPEN", key="k", kind="tween", end_prompt="SHUT", frames=4))
    from generation.types import RenderRequest

    assert same_request(job, RenderRequest(prompt="OPEN", kind="tween", end_prompt="SHUT", frames=4))
    assert not same_request(job, RenderRequest(prompt="OPEN", kind="tween", end_prompt="SHUT", frames=5))
    assert not same_request(job, RenderRequest(prompt="OPEN"))


def test_png_size_reads_the_header_and_boxes_parse() -> None:
    assert png_size(png_of(7, 3)) == (7, 3)
    assert png_size(b"GIF89a" + bytes(30)) is None
    assert parse_box(" 1, 2,3 ,4") == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="four whole numbers"):
        parse_box("1,2,3")
    assert parse_box("-4,0,10,10") == (-4, 0, 10, 10)  # one minus is a number (the range check refuses it later)


@pytest.mark.parametrize("box", ["--4,0,10,10", "0,0,\u00b2,10", "0,0,\u0663,10", "\u0661\u0660,0,10,10", "0,0,+4,10"])
def test_a_box_is_ascii_whole_numbers_or_one_line(box: str) -> None:
    """Regression: lstrip("-") and str.isdigit() let "--4" and "²" reach int(), which printed its own text,
    and Arabic-Indic digits were taken as numbers; `jobs submit` and the job row parse boxes with this too."""
    with pytest.raises(ValueError) as refused:
        parse_box(box)
    assert str(refused.value) == f"a box is four whole numbers X,Y,W,H (left, top, width, height in pixels), not {box!r}"
    assert batch_key.__doc__
