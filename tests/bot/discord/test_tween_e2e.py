"""/tween end to end: a job of kind "tween" with progress edits, delivered as an animated GIF, kept in the history."""

from __future__ import annotations

from PIL import Image

from tests.bot.discord.fake_discord import FakeDiscord
from tests.bot.discord.flows import ORIGINAL, custom_ids, delivered, followups, result_of


def gif_frames(data: bytes) -> int:
    import io

    with Image.open(io.BytesIO(data)) as image:
        return image.n_frames


async def test_tween_reports_frame_progress_and_delivers_the_gif(fake: FakeDiscord, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker(step_delay_s=0.3)  # frames take long enough for progress edits between them
    interaction = await fake.slash(alice, "tween", {"start": "OPEN", "end": "CLOSED", "frames": 6, "seed": 9})
    await fake.wait_until(lambda: interaction.callbacks)
    assert interaction.callbacks[0]["type"] == 5  # deferred, public, like /imagine

    progress = await fake.wait_until(
        lambda: next((r for r in fake.calls("PATCH", ORIGINAL) if r.json and "drawing frames: step" in (r.json.get("content") or "")), None)
    )
    assert "> OPEN\n> → CLOSED" in progress.json["content"] and "/6 (" in progress.json["content"]

    message = await fake.wait_until(lambda: result_of(fake, interaction))
    [job] = storage.queue.list().jobs
    assert (job.kind, job.prompt, job.end_prompt, job.frames, job.seed) == ("tween", "OPEN", "CLOSED", 6, 9)
    assert [a["filename"] for a in message["attachments"]] == [f"glyph-{job.id}.gif"]
    final = next(r for r in reversed(fake.calls("PATCH", ORIGINAL)) if r.files)
    assert final.files[0][2].startswith(b"GIF89a") and gif_frames(final.files[0][2]) == 6
    assert "tween of 6 frames · seed 9" in message["content"]
    # No Variations: an animation has no still image to start from.
    assert custom_ids(message) == [f"glyph:reroll:{job.id}", f"glyph:cands:{job.id}", f"glyph:delete:{job.id}"]


async def test_a_tween_is_in_the_history_and_rerolls_as_a_tween(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    message, job_id = await delivered(fake, alice, "tween", {"start": "DAY", "end": "NIGHT", "frames": 3})

    history = await fake.slash(alice, "history")
    [listing] = await fake.wait_until(lambda: followups(fake, history) or None)
    assert f"`{job_id}` succeeded" in listing.json["content"] and "tween DAY → NIGHT" in listing.json["content"]

    click = await fake.click(alice, int(message["id"]), f"glyph:reroll:{job_id}")
    again = await fake.wait_until(lambda: result_of(fake, click))
    new, old = storage.queue.list().jobs
    assert (new.kind, new.prompt, new.end_prompt, new.frames) == ("tween", "DAY", "NIGHT", 3) and new.seed != old.seed
    assert again["attachments"][0]["filename"].endswith(".gif")


async def test_the_candidates_of_a_tween_are_its_frames_and_its_gif(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    message, job_id = await delivered(fake, alice, "tween", {"start": "A", "end": "B", "frames": 2})
    click = await fake.click(alice, int(message["id"]), f"glyph:cands:{job_id}")
    [answer] = await fake.wait_until(lambda: followups(fake, click) or None)
    assert [f[0] for f in answer.files] == [f"job-{job_id}-candidate-{n}.{ext}" for n, ext in ((1, "png"), (2, "png"), (3, "gif"))]
    assert "• gif seed" in answer.json["content"] and "⭐ chosen" in answer.json["content"]


async def test_variations_of_a_tween_are_refused_and_cost_no_cooldown(fake, storage, start_bot, settings):
    from dataclasses import replace

    await start_bot(replace(settings, cooldown_s=600))
    alice = fake.add_user("alice")
    storage.start_worker()
    message, job_id = await delivered(fake, alice, "tween", {"start": "A", "end": "B", "frames": 2})
    alice_again = fake.add_user("alice2")
    # A result posted by an older version of the bot could carry a Variations button.
    fake.messages[int(message["id"])]["components"][0]["components"][1]["custom_id"] = f"glyph:vary:{job_id}"
    click = await fake.click(alice_again, int(message["id"]), f"glyph:vary:{job_id}")
    [answer] = await fake.wait_until(lambda: followups(fake, click) or None)
    assert "no still image to vary (a tween is an animation" in answer.json["content"]
    later = await fake.slash(alice_again, "imagine", {"prompt": "STILL FREE"})
    await fake.wait_until(lambda: len(storage.queue.list().jobs) == 2)
    assert later.callbacks[0]["type"] == 5


async def test_bad_tween_options_are_listed_in_one_private_reply(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    cases = [
        ({"start": "SAME", "end": " SAME "}, ["end: is the same text as start"]),
        ({"start": "A", "end": "B", "frames": 1}, ["frames: 1 is out of range; use 2 to 24"]),
        ({"start": "A", "end": "B", "frames": 99}, ["frames: 99 is out of range; use 2 to 24"]),
        ({"start": " ", "end": "B" * 500}, ["start: is empty", "end: has 500 characters; the limit is 380"]),
    ]
    for options, expected in cases:
        interaction = await fake.slash(alice, "tween", options)
        await fake.wait_until(lambda: interaction.callbacks)
        reply = interaction.callbacks[0]
        assert reply["type"] == 4 and reply["data"]["flags"] & 64
        assert all(text in reply["data"]["content"] for text in expected), (options, reply["data"]["content"])
    assert storage.queue.list().jobs == []
