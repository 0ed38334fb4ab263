"""Pure logic of the Discord adapter: option validation, attachment packing, pacing, texts, sync hash."""

from __future__ import annotations

import datetime as dt
import io
import random

import pytest
from PIL import Image

from bot.discord.attachments import TooLargeForDiscord, enlarge_preview, pack_images, to_png
from bot.discord.cooldown import Cooldowns
from bot.discord.options import OptionErrors, check_form_options, parse_imagine
from generation.request_parsers import MAX_SEED, unescape_newlines
from bot.discord.settings import DiscordSettings
from bot.discord.sync import payload_hash
from bot.discord.texts import MAX_MESSAGE_CHARS, format_eta, quote_prompt, result_message
from bot.discord.throttle import EditThrottle
from tests.bot.discord.flows import png_claiming

SETTINGS = DiscordSettings()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def noisy_png(size: int) -> bytes:
    rng = random.Random(size)
    image = Image.frombytes("RGB", (size, size), bytes(rng.randrange(256) for _ in range(size * size * 3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- options ---------------------------------------------------------------------------------


def test_backslash_n_becomes_a_newline_and_double_backslash_stays_literal():
    assert unescape_newlines(r"ONE\nTWO") == "ONE\nTWO"
    assert unescape_newlines(r"path\\name") == r"path\name"
    assert unescape_newlines(r"C:\\n") == r"C:\n"


def test_defaults_fill_missing_options_and_seed_is_drawn_when_absent():
    options = parse_imagine(SETTINGS, prompt="  HI  ", rng=random.Random(1))
    assert (options.prompt, options.guidance, options.steps, options.count) == ("HI", 3.0, 20, 1)
    assert 0 <= options.seed <= MAX_SEED


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(OptionErrors) as caught:
        parse_imagine(SETTINGS, prompt="x" * 381, guidance=-1.0, steps=151, seed=-5, count=0, negative="y" * 400)
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == ["prompt", "negative", "guidance", "steps", "count", "seed"]
    assert "has 381 characters; the limit is 380" in problems[0]


def test_form_options_are_checked_without_a_prompt():
    check_form_options(SETTINGS, guidance=3.0, steps=20, seed=1, count=2)
    with pytest.raises(OptionErrors) as caught:
        check_form_options(SETTINGS, guidance=None, steps=1000, seed=None, count=None)
    assert caught.value.problems == ["steps: 1000 is out of range; use 5 to 150."]


async def test_the_form_never_asks_discord_for_more_than_4000_characters():
    from bot.discord.form import PromptForm

    numbers = {"guidance": None, "steps": None, "seed": None, "count": None}
    assert PromptForm(10_000, **numbers).prompt.max_length == 4000  # Discord refuses the whole form above that
    assert PromptForm(380, **numbers).prompt.max_length == 380


def test_form_ids_carry_the_numbers_exactly():
    from bot.discord.form import FORM_ID, form_id

    custom_id = form_id(0.30000000000000004, 150, 2**32 - 1, None)
    assert len(custom_id) <= 100
    found = FORM_ID.fullmatch(custom_id)
    assert float(found["guidance"]) == 0.30000000000000004 and int(found["seed"]) == 2**32 - 1 and found["count"] == ""


def test_nan_guidance_and_strength_without_image_are_refused():
    with pytest.raises(OptionErrors) as caught:
        parse_imagine(SETTINGS, prompt="A", guidance=float("nan"), strength=0.5)
    assert caught.value.problems == [
        "guidance: must be a finite number.",
        "strength: only makes sense with an image; attach one with the `image` option or leave strength out.",
    ]


def test_strength_must_be_in_0_1_with_an_image():
    with pytest.raises(OptionErrors, match="strength: 0 is not allowed"):
        parse_imagine(SETTINGS, prompt="A", strength=0.0, has_image=True)
    assert parse_imagine(SETTINGS, prompt="A", strength=1.0, has_image=True).strength == 1.0


def test_count_makes_one_request_per_image_with_consecutive_seeds():
    options = parse_imagine(SETTINGS, prompt="A", seed=MAX_SEED, count=3)
    assert [r.seed for r in options.requests(candidates=4)] == [MAX_SEED, 0, 1]
    assert all(r.candidates == 4 for r in options.requests(candidates=4))


# --- attachments -----------------------------------------------------------------------------


def test_small_images_stay_png():
    uploads = pack_images([noisy_png(16)], stem="glyph-1", limit_bytes=10 * 1024 * 1024)
    assert [u.filename for u in uploads] == ["glyph-1.png"]


def test_images_over_the_limit_become_webp_that_fits():
    pngs = [noisy_png(160) for _ in range(3)]
    limit = 64 * 1024 + sum(len(p) for p in pngs) // 2
    uploads = pack_images(pngs, stem="g", limit_bytes=limit)
    assert [u.filename for u in uploads] == ["g-1.webp", "g-2.webp", "g-3.webp"]
    assert sum(len(u.data) for u in uploads) <= limit - 64 * 1024


def test_images_that_cannot_fit_raise_a_clear_error():
    with pytest.raises(TooLargeForDiscord, match="upload limit is"):
        pack_images([noisy_png(128)], stem="g", limit_bytes=64 * 1024 + 100)
    with pytest.raises(TooLargeForDiscord, match="Discord allows 10 files"):
        pack_images([noisy_png(4)] * 11, stem="g", limit_bytes=10**9)


def test_user_images_are_normalised_to_png_and_garbage_is_refused():
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8), (255, 0, 0, 128)).save(buffer, format="WEBP")
    assert to_png(buffer.getvalue(), max_bytes=10**6).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="the image is truncated: the file ends before its trailer"):
        to_png(b"GIF89a broken", max_bytes=10**6)
    with pytest.raises(ValueError, match=r"the image is not a PNG, JPEG, GIF or WebP file \(TIFF\)"):
        to_png(b"II*\x00" + bytes(100), max_bytes=10**6)
    with pytest.raises(ValueError, match="the limit is 1 MiB"):
        to_png(b"x" * (2 * 1048576), max_bytes=1048576)
    with pytest.raises(ValueError, match="is 0.6 MiB; the limit is 0.5 MiB"):
        to_png(b"x" * (600 * 1024), max_bytes=512 * 1024)


def test_user_images_with_huge_dimensions_are_refused_before_decoding():
    with pytest.raises(ValueError, match=r"is 8000×6000 pixels \(48.0 megapixels\); the limit is 16.8 megapixels \(4096×4096\)"):
        to_png(png_claiming(8000, 6000), max_bytes=10**6)
    with pytest.raises(ValueError, match=r"is 30000×30000 pixels \(900.0 megapixels\); the limit is 16.8 megapixels"):
        to_png(png_claiming(30000, 30000), max_bytes=10**6)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_large_user_images_are_shrunk_to_the_working_size(fmt):
    buffer = io.BytesIO()
    Image.new("RGB", (4096, 128), "white").save(buffer, format=fmt)
    with Image.open(io.BytesIO(to_png(buffer.getvalue(), max_bytes=10**7))) as image:
        assert image.size == (1024, 32) and image.mode == "RGB"


# --- pacing ----------------------------------------------------------------------------------


def test_throttle_spaces_edits_by_the_interval():
    clock = Clock()
    throttle = EditThrottle(2.0, clock)
    assert throttle.wait_time() == 0
    throttle.mark_sent()
    clock.now += 0.5
    assert throttle.wait_time() == pytest.approx(1.5)
    clock.now += 1.5
    assert throttle.wait_time() == 0


def test_cooldown_counts_down_and_can_be_forgotten():
    clock = Clock()
    cooldowns = Cooldowns(10, clock)
    assert cooldowns.remaining(1) == 0
    cooldowns.start(1)
    clock.now += 4
    assert cooldowns.remaining(1) == pytest.approx(6)
    assert cooldowns.remaining(2) == 0
    cooldowns.forget(1)
    assert cooldowns.remaining(1) == 0


# --- texts and settings ----------------------------------------------------------------------


def test_prompt_quote_keeps_lines_and_messages_fit_discord():
    assert quote_prompt("A\n\nB") == "> A\n>  \n> B"


def test_users_text_is_shown_as_typed_never_as_markdown(storage_job):
    """A prompt must not make the bot post a masked link, a heading or a spoiler."""
    from storage.types import StoredImage

    from bot.discord.texts import candidates_message, history_message, settings_line

    tricky = "[free nitro](https://evil.example) # **big**"
    assert quote_prompt(tricky) == r"> \[free nitro](https://evil.example) # \*\*big\*\*"
    assert quote_prompt("# shout") == r"> \# shout"
    job = storage_job(prompt=tricky, negative_prompt="||x||")
    assert r"\[free nitro]" in history_message([job], "you") and r"\|\|x\|\|" in settings_line(job)
    image = StoredImage(1, 1, "sr", 1, "0" * 64, 10, 8, 8, ocr_text=tricky, ocr_score=0.5, chosen=True, hidden=False)
    assert r"\[free nitro]" in candidates_message(job, [image])
    assert format_eta(None) == "" and format_eta(dt.timedelta(seconds=42)) == ", ready in ~42 s"
    assert format_eta(dt.timedelta(minutes=5)) == ", ready in ~5 min"


def test_result_message_is_cut_to_discords_limit(storage_job):
    job = storage_job(prompt="W" * 380, negative_prompt="N" * 380)
    assert len(result_message([job] * 10, note="x" * 3000)) <= MAX_MESSAGE_CHARS


def test_settings_come_from_the_discord_section_and_the_token_from_the_environment(monkeypatch, tmp_path):
    from config.settings import load_settings

    monkeypatch.setenv("GLYPHBOT_DISCORD__TOKEN", "secret-token")
    monkeypatch.setenv("GLYPHBOT_DISCORD__COOLDOWN_S", "5")
    settings = DiscordSettings.from_settings(load_settings(storage={"data_dir": str(tmp_path)}))
    assert settings.token == "secret-token" and "secret-token" not in repr(settings)
    assert settings.cooldown_s == 5 and settings.progress_edit_interval_s == 2.0
    assert settings.state_dir == str(tmp_path / "discord")


def test_every_discord_setting_reaches_the_adapter():
    from config.settings import DiscordSection

    adapter_fields = set(DiscordSettings.__dataclass_fields__)
    assert set(DiscordSection.model_fields) - {"token", "token_file"} <= adapter_fields


def test_payload_hash_ignores_key_order_but_not_content():
    a = [{"name": "imagine", "description": "d", "options": []}]
    b = [{"options": [], "description": "d", "name": "imagine"}]
    assert payload_hash(a) == payload_hash(b)
    assert payload_hash(a) != payload_hash([{**a[0], "description": "changed"}])


@pytest.fixture
def storage_job():
    from dataclasses import fields

    from storage.types import Job

    def make(**overrides):
        defaults = {f.name: None for f in fields(Job)}
        defaults.update(
            id=1, status="succeeded", source="discord", requester_id="1", requester_name="a", place="guild:1",
            prompt="HI", negative_prompt="", guidance_scale=3.0, sr_guidance_scale=2.0, num_inference_steps=50,
            sr_num_inference_steps=25, scheduler="dpmsolver", seed=1, candidates=4, strength=0.75, batch_key="k",
            priority=0, attempts=1, created_at=dt.datetime.now(dt.timezone.utc),
        )
        defaults.update(overrides)
        return Job(**defaults)

    return make


def test_outbox_round_trips_and_skips_unreadable_entries(tmp_path, caplog):
    from bot.discord.outbox import Outbox, PendingDelivery

    outbox = Outbox(tmp_path / "outbox")
    assert outbox.entries() == []
    entry = PendingDelivery(key="1", job_ids=[4, 5], user_id=7, channel_id=8, guild_id=None, prompt="A\nB")
    outbox.add(entry)
    (tmp_path / "outbox" / "2.json").write_text("{not json")
    assert outbox.entries() == [entry]
    assert "ignoring unreadable pending delivery 2.json" in caplog.text
    outbox.remove("1")
    outbox.remove("1")  # removing twice is harmless
    assert outbox.entries() == []


def test_status_lines_show_queue_position_eta_and_stage(storage_job):
    from storage.types import NO_WORKER, JobUpdate

    from bot.discord.texts import status_line

    queued = JobUpdate(job=storage_job(status="queued", attempts=0), position=3, eta=dt.timedelta(seconds=40))
    assert status_line(queued, "#2") == "#2 ⏳ #3 in the queue, ready in ~40 s"
    requeued = JobUpdate(job=storage_job(status="queued", attempts=1), position=1)
    assert status_line(requeued) == "⏳ #1 in the queue again (attempt 1 was interrupted)"
    unattended = JobUpdate(job=storage_job(status="queued", attempts=0), position=1, workers=0)
    assert status_line(unattended) == f"⏳ #1 in the queue; {NO_WORKER}"
    running = JobUpdate(job=storage_job(status="running", progress_stage="sr", progress_step=5, progress_total=20))
    assert status_line(running) == "🖌️ sharpening: step 5/20 (25%)"
    retried = JobUpdate(job=storage_job(status="running", attempts=2, progress_stage="base", progress_step=1, progress_total=4))
    assert status_line(retried) == "🖌️ drawing: step 1/4 (25%) on attempt 2"
    assert status_line(JobUpdate(job=storage_job(status="failed", error="CUDA out of memory"))) == "⚠️ failed: CUDA out of memory"


def test_previews_are_enlarged_with_sharp_pixels():
    small = noisy_png(64)
    with Image.open(io.BytesIO(enlarge_preview(small))) as big:
        assert big.size == (256, 256)
        with Image.open(io.BytesIO(small)) as original:
            assert big.getpixel((5, 9)) == original.getpixel((1, 2))
    assert enlarge_preview(noisy_png(200)) == noisy_png(200)
