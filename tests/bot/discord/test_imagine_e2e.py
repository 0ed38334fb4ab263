"""/imagine end to end: real discord.py against the loopback Discord, real queue and worker on SQLite."""

from __future__ import annotations

import re
from dataclasses import replace

from tests.bot.discord.conftest import GatedRenderer
from tests.bot.discord.fake_discord import FakeDiscord, RecordedRequest
from tests.bot.discord.flows import ORIGINAL, custom_ids, original, png_claiming, result_of
from tests.term_bypasses import BLOCKED, BYPASSES


def successful_edits(fake: FakeDiscord) -> list[RecordedRequest]:
    return [r for r in fake.calls("PATCH", ORIGINAL) if r.status == 200]


def final_edit(fake: FakeDiscord) -> RecordedRequest:
    return next(r for r in reversed(successful_edits(fake)) if r.json and "seed" in (r.json.get("content") or ""))


async def test_imagine_defers_reports_progress_and_delivers(fake, storage, start_bot, settings):
    await start_bot()
    alice = fake.add_user("alice")
    renderer = GatedRenderer("sr")  # holds the job between its stages until the preview was seen
    storage.start_worker(renderer=renderer)
    interaction = await fake.slash(alice, "imagine", {"prompt": r"HELLO\nWORLD", "seed": 1234, "steps": 8})

    await fake.wait_until(lambda: interaction.callbacks)
    assert interaction.callbacks[0]["type"] == 5  # deferred, public
    assert interaction.callbacks[0]["at"] - interaction.created_at < 3.0

    # The enlarged low-res preview of the base stage goes out in a progress edit, with the cancel button.
    preview = await fake.wait_until(lambda: next((e for e in successful_edits(fake) if e.files), None))
    assert [f[0] for f in preview.files] == ["preview-1.png"]
    assert "drawing: step 8/8" in preview.json["content"]
    assert custom_ids(preview.json)[0].startswith("glyph:cancel:")
    renderer.gate.set()

    original = await fake.wait_until(lambda: result_of(fake, interaction))
    assert "seed 1234" in original["content"]
    edits = successful_edits(fake)
    # Queue position or progress first, then stage steps; each edit at least the interval after the previous one.
    assert any("queue" in e.json["content"] or "step" in e.json["content"] for e in edits[:-1])
    gaps = [b.at - a.at for a, b in zip(edits, edits[1:])]
    assert all(gap >= settings.progress_edit_interval_s - 0.02 for gap in gaps), gaps

    final = final_edit(fake)
    assert [f[0] for f in final.files] == [f"glyph-{_job_id(final)}.png"]
    assert final.files[0][2].startswith(b"\x89PNG")
    assert "> HELLO\n> WORLD" in original["content"]
    assert "guidance 3" in original["content"] and "steps 8" in original["content"]
    job_id = _job_id(final)
    assert custom_ids(original) == [f"glyph:reroll:{job_id}", f"glyph:vary:{job_id}", f"glyph:cands:{job_id}", f"glyph:delete:{job_id}"]
    job = await storage.jobs.get(job_id)
    assert job.prompt == "HELLO\nWORLD" and job.seed == 1234 and job.requester_id == str(alice.id)
    assert job.idempotency_key == f"discord:{interaction.id}:0"


async def test_count_gives_one_image_and_button_row_per_job(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    interaction = await fake.slash(alice, "imagine", {"prompt": "TWO", "count": 2, "seed": 7})
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    assert len(message["attachments"]) == 2
    jobs = (await storage.jobs.list()).jobs
    assert sorted(j.seed for j in jobs) == [7, 8]
    assert len(message["components"]) == 2
    assert "#1" in message["content"] and "#2" in message["content"]


async def test_images_over_discords_upload_limit_are_not_sent_and_the_reply_says_why(fake, storage, start_bot):
    fake.upload_limit = 32 * 1024  # Discord states the limit in every interaction
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    interaction = await fake.slash(alice, "imagine", {"prompt": "TOO BIG TO POST"})
    message = await fake.wait_until(lambda: (m := original(fake, interaction)) and "too large to upload" in m["content"] and m)
    assert message["attachments"] == [] and "upload limit is 32768" in message["content"]
    assert [r for r in fake.requests if r.status == 413] == []  # nothing was sent that Discord would refuse


async def test_bad_options_are_listed_each_in_one_ephemeral_reply(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "   ", "guidance": 99.0, "steps": 0, "count": 11, "strength": 0.5})
    await fake.wait_until(lambda: interaction.callbacks)
    reply = interaction.callbacks[0]
    assert reply["type"] == 4 and reply["data"]["flags"] & 64
    text = reply["data"]["content"]
    for expected in ("prompt: is empty", "guidance: 99 is out of range; use 0 to 10", "steps: 0 is out of range", "count: 11 is out of range", "strength: only makes sense with an image"):
        assert expected in text
    assert (await storage.jobs.list()).jobs == []


async def test_a_prompt_as_long_as_discord_allows_is_refused_with_the_limit(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "W" * 6000})  # Discord's longest string option
    await fake.wait_until(lambda: interaction.callbacks)
    assert "prompt: has 6000 characters; the limit is 380" in interaction.callbacks[0]["data"]["content"]
    assert storage.queue.list().jobs == []


async def test_letters_beyond_ascii_and_emoji_are_kept_as_typed(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    interaction = await fake.slash(alice, "imagine", {"prompt": r"ÜBER 🎉\nテキスト"})
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    assert "> ÜBER 🎉\n> テキスト" in message["content"]
    assert storage.queue.list().jobs[0].prompt == "ÜBER 🎉\nテキスト"


async def test_a_prompt_cannot_make_the_bot_ping_anyone(fake, storage, start_bot):
    await start_bot()
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    storage.start_worker()
    interaction = await fake.slash(alice, "imagine", {"prompt": f"<@{bob.id}> @everyone <@&{fake.moderator_role_id}>"})
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    assert f"<@{bob.id}> @everyone" in message["content"]  # quoted as typed...
    edits = [r for r in fake.calls("PATCH", ORIGINAL) if r.json and "content" in r.json]
    assert edits and all(r.json.get("allowed_mentions", {}).get("parse") == [] and not r.json["allowed_mentions"].get("users") for r in edits)


async def test_unsupported_character_in_prompt_is_refused(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "bell\x07"})
    await fake.wait_until(lambda: interaction.callbacks)
    assert "unsupported character U+0007" in interaction.callbacks[0]["data"]["content"]


async def test_blocked_term_is_refused_before_a_job_exists(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.moderation.block_term("forbidden", moderator="test")
    await fake.slash(alice, "imagine", {"prompt": "a FORBIDDEN word"})
    followup = await fake.wait_until(lambda: fake.calls("POST", r"/webhooks/\d+/tok-\d+"))
    assert "blocked term" in followup[0].json["content"] and followup[0].json["flags"] & 64
    # The public "thinking" message was removed, so the channel never shows the refused prompt.
    assert fake.calls("DELETE", ORIGINAL)
    assert (await storage.jobs.list()).jobs == []


async def test_blocked_term_bypasses_are_refused(fake, storage, start_bot):
    await start_bot()
    storage.moderation.block_term(BLOCKED, moderator="test")
    for number, prompt in enumerate(BYPASSES.values()):
        user = fake.add_user(f"user{number}")
        for options in ({"prompt": prompt}, {"prompt": "fine", "negative": prompt}):
            before = len(fake.calls("POST", r"/webhooks/\d+/tok-\d+"))
            await fake.slash(user, "imagine", options)
            followups = await fake.wait_until(lambda: fake.calls("POST", r"/webhooks/\d+/tok-\d+")[before:] or None)
            assert "blocked term" in followups[0].json["content"], (prompt, followups[0].json)
    assert (await storage.jobs.list()).jobs == []


async def test_dms_are_refused_clearly(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "HI"}, dm=True)
    await fake.wait_until(lambda: interaction.callbacks)
    assert "servers only" in interaction.callbacks[0]["data"]["content"]
    assert interaction.callbacks[0]["data"]["flags"] & 64


async def test_cooldown_refuses_a_second_request_with_the_wait(fake, storage, start_bot, settings):
    from dataclasses import replace

    await start_bot(replace(settings, cooldown_s=60))
    alice = fake.add_user("alice")
    first = await fake.slash(alice, "imagine", {"prompt": "ONE"})
    await fake.wait_until(lambda: first.callbacks)
    second = await fake.slash(alice, "imagine", {"prompt": "TWO"})
    await fake.wait_until(lambda: second.callbacks)
    assert re.search(r"wait \d+ s", second.callbacks[0]["data"]["content"])
    await fake.wait_until(lambda: storage.queue.list().jobs)
    assert [j.prompt for j in storage.queue.list().jobs] == ["ONE"]


async def test_img2img_attachment_becomes_the_init_image(fake, storage, start_bot):
    import io

    from PIL import Image

    await start_bot()
    alice = fake.add_user("alice")
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, format="JPEG")
    interaction = await fake.slash(alice, "imagine", {"prompt": "RED", "strength": 0.4}, attachments={"image": ("red.jpg", "image/jpeg", buffer.getvalue())})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    job = storage.queue.list().jobs[0]
    assert job.strength == 0.4 and job.init_image_hash is not None
    assert storage.queue.load_init_image(job).startswith(b"\x89PNG")
    assert interaction.callbacks[0]["type"] == 5


async def test_corrupt_image_attachment_is_refused(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    await fake.slash(alice, "imagine", {"prompt": "X"}, attachments={"image": ("broken.png", "image/png", b"\x89PNG not really")})
    followup = await fake.wait_until(lambda: fake.calls("POST", r"/webhooks/\d+/tok-\d+"))
    assert "image: the image is not a PNG, JPEG, GIF or WebP file" in followup[0].json["content"]
    assert storage.queue.list().jobs == []


async def test_an_attachment_over_the_size_limit_is_refused_before_anything_is_read(fake, storage, start_bot, settings):
    await start_bot(replace(settings, max_init_image_mib=0.5))
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "BIG"}, attachments={"image": ("big.png", "image/png", bytes(600 * 1024))})
    await fake.wait_until(lambda: interaction.callbacks)
    reply = interaction.callbacks[0]
    assert reply["type"] == 4 and reply["data"]["flags"] & 64
    assert "image: is 0.6 MiB; the limit is 0.5 MiB" in reply["data"]["content"]
    assert storage.queue.list().jobs == []


async def test_an_attachment_claiming_huge_dimensions_is_refused(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    await fake.slash(alice, "imagine", {"prompt": "BOMB"}, attachments={"image": ("bomb.png", "image/png", png_claiming(30000, 30000))})
    followup = await fake.wait_until(lambda: fake.calls("POST", r"/webhooks/\d+/tok-\d+"))
    assert "image: the image is 30000×30000 pixels (900.0 megapixels); the limit is 16.8 megapixels" in followup[0].json["content"]
    assert storage.queue.list().jobs == []


async def test_the_form_is_not_opened_when_its_numbers_are_wrong(fake, storage, start_bot):
    """Nobody should type a long text only to learn afterwards that the guidance was out of range."""
    await start_bot()
    alice = fake.add_user("alice")
    opener = await fake.slash(alice, "imagine-lines", {"guidance": 99.0, "count": 0})
    await fake.wait_until(lambda: opener.callbacks)
    reply = opener.callbacks[0]
    assert reply["type"] == 4 and reply["data"]["flags"] & 64
    assert "guidance: 99 is out of range" in reply["data"]["content"] and "count: 0 is out of range" in reply["data"]["content"]


async def test_a_form_opened_before_a_restart_still_works_after_it(fake, storage, start_bot):
    first = await start_bot()
    alice = fake.add_user("alice")
    opener = await fake.slash(alice, "imagine-lines", {"seed": 5, "guidance": 2.5, "count": 2})
    await fake.wait_until(lambda: opener.callbacks)
    await first.close()
    await start_bot()  # the form is still open in the user's client; the new process never saw it
    submitted = await fake.submit_modal(alice, opener.callbacks[0]["data"]["custom_id"], {"prompt": "AFTER\nRESTART", "negative": "blur"})
    await fake.wait_until(lambda: len(storage.queue.list().jobs) == 2)
    assert submitted.callbacks[0]["type"] == 5
    jobs = sorted(storage.queue.list().jobs, key=lambda job: job.seed)
    assert [(j.prompt, j.negative_prompt, j.seed, j.guidance_scale) for j in jobs] == [("AFTER\nRESTART", "blur", 5, 2.5), ("AFTER\nRESTART", "blur", 6, 2.5)]


async def test_modal_takes_a_multi_line_prompt(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    opener = await fake.slash(alice, "imagine-lines", {"seed": 5})
    await fake.wait_until(lambda: opener.callbacks)
    assert opener.callbacks[0]["type"] == 9
    modal_id = opener.callbacks[0]["data"]["custom_id"]
    submitted = await fake.submit_modal(alice, modal_id, {"prompt": "LINE ONE\nLINE TWO", "negative": ""})
    await fake.wait_until(lambda: submitted.callbacks)
    assert submitted.callbacks[0]["type"] == 5
    await fake.wait_until(lambda: storage.queue.list().jobs)
    job = storage.queue.list().jobs[0]
    assert job.prompt == "LINE ONE\nLINE TWO" and job.seed == 5


def _job_id(request: RecordedRequest) -> int:
    return int(re.search(r"job (\d+)", request.json["content"])[1])


async def test_the_pending_message_says_when_no_worker_is_running(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "NOBODY HOME"})
    pending = await fake.wait_until(lambda: (m := original(fake, interaction)) and "no worker is running" in m["content"] and m)
    assert "in the queue" in pending["content"]
    storage.start_worker()  # once one runs, the job is drawn and the notice is gone
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    assert "no worker" not in message["content"]
