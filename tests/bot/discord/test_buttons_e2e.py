"""Persistent buttons, clicked through the loopback Discord, including after a bot restart."""

from __future__ import annotations

from dataclasses import replace

from tests.bot.discord.conftest import GatedRenderer
from tests.bot.discord.flows import ORIGINAL, custom_ids, deliver_one, followups, original, result_of

async def test_reroll_after_restart_reads_parameters_from_the_database(fake, storage, start_bot):
    first_bot = await start_bot()
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice, "KEEP ME", seed=42, guidance=3.5, steps=7, negative="blurry")
    await first_bot.close()

    await start_bot()  # a new process: nothing of the first bot's views survives in memory
    click = await fake.click(bob, message_id, f"glyph:reroll:{job_id}")
    await fake.wait_until(lambda: click.callbacks)
    assert click.callbacks[0]["type"] == 5
    await fake.wait_until(lambda: len(storage.queue.list().jobs) == 2)
    new, old = storage.queue.list().jobs
    assert (new.prompt, new.negative_prompt, new.guidance_scale, new.num_inference_steps) == ("KEEP ME", "blurry", 3.5, 7)
    assert new.seed != old.seed and new.requester_id == str(bob.id)
    result = await fake.wait_until(lambda: result_of(fake, click))
    assert f"job {new.id}" in result["content"]


async def test_variations_start_from_the_chosen_image(fake, storage, start_bot, settings):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice)
    click = await fake.click(alice, message_id, f"glyph:vary:{job_id}")
    await fake.wait_until(lambda: len(storage.queue.list().jobs) == 2)
    variation = storage.queue.list().jobs[0]
    winner = next(i for i in storage.queue.images_of(job_id) if i.chosen)
    assert variation.init_image_hash == winner.sha256
    assert variation.strength == settings.variation_strength
    await fake.wait_until(lambda: click.callbacks)


async def test_candidates_are_shown_to_the_clicker_with_ocr_scores(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice)
    click = await fake.click(alice, message_id, f"glyph:cands:{job_id}")
    followup = await fake.wait_until(lambda: [r for r in fake.calls("POST", r"/webhooks/\d+/" + click.token) if r.status == 200])
    body = followup[0]
    assert body.json["flags"] & 64
    assert "score 1.00" in body.json["content"] and "⭐ chosen" in body.json["content"]
    assert len(body.files) == len(storage.queue.images_of(job_id))  # 4 base candidates + the chosen SR image


async def test_delete_is_refused_to_others_and_allowed_to_moderators_with_audit(fake, storage, start_bot):
    await start_bot()
    alice, mallory, mod = fake.add_user("alice"), fake.add_user("mallory"), fake.add_user("mod", moderator=True)
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice)

    refused = await fake.click(mallory, message_id, f"glyph:delete:{job_id}")
    answer = await fake.wait_until(lambda: fake.calls("POST", r"/webhooks/\d+/" + refused.token))
    assert refused.callbacks[0]["type"] == 6  # acknowledged without touching the message
    assert answer[0].json["flags"] & 64 and "Only the person" in answer[0].json["content"]
    assert not fake.messages[message_id].get("deleted")

    allowed = await fake.click(mod, message_id, f"glyph:delete:{job_id}")
    await fake.wait_until(lambda: fake.messages[message_id].get("deleted"))
    assert allowed.callbacks[0]["type"] == 6
    await fake.wait_until(lambda: storage.moderation.audit_log())
    entry = storage.moderation.audit_log()[0]
    assert entry.action == "delete_result" and entry.target == f"job:{job_id}" and str(mod.id) in entry.moderator


async def test_requester_deletes_own_result(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice)
    await fake.click(alice, message_id, f"glyph:delete:{job_id}")
    await fake.wait_until(lambda: fake.messages[message_id].get("deleted"))
    assert storage.moderation.audit_log() == []  # deleting your own result is not a moderator action


async def test_cancel_while_queued_ends_the_reply_as_cancelled(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "NEVER DRAWN"})
    pending = await fake.wait_until(lambda: (m := original(fake, interaction)) and m["components"] and m)
    custom_id = pending["components"][0]["components"][0]["custom_id"]
    assert custom_id.startswith("glyph:cancel:")
    assert "in the queue" in pending["content"]
    click = await fake.click(alice, int(pending["id"]), custom_id)
    await fake.wait_until(lambda: "cancelled" in fake.messages[int(pending["id"])]["content"] and not fake.messages[int(pending["id"])]["components"])
    job = storage.queue.list().jobs[0]
    assert job.status == "cancelled"
    assert click.callbacks[0]["data"]["flags"] & 64


async def test_cancel_while_running_stops_the_worker_and_clears_the_preview(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    renderer = GatedRenderer("sr")
    storage.start_worker(renderer=renderer)
    interaction = await fake.slash(alice, "imagine", {"prompt": "HALFWAY"})
    running = await fake.wait_until(lambda: (m := original(fake, interaction)) and m["attachments"] and m)  # the preview
    job_id = int(custom_ids(running)[0].rsplit(":", 1)[1])
    click = await fake.click(alice, int(running["id"]), f"glyph:cancel:{job_id}")
    answer = await fake.wait_until(lambda: followups(fake, click))
    assert f"Job {job_id} is cancelled" in answer[0].json["content"]
    renderer.gate.set()  # the worker's next progress report learns the job is no longer its own
    final = await fake.wait_until(lambda: (m := original(fake, interaction)) and "cancelled" in m["content"] and m)
    assert final["attachments"] == [] and final["components"] == []
    assert (await storage.jobs.get(job_id)).status == "cancelled"
    assert storage.queue.images_of(job_id) == []


async def test_reroll_of_an_img2img_result_keeps_the_start_image(fake, storage, start_bot):
    import io

    from PIL import Image

    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(buffer, format="PNG")
    interaction = await fake.slash(alice, "imagine", {"prompt": "BLUE", "strength": 0.3}, attachments={"image": ("b.png", "image/png", buffer.getvalue())})
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    job_id = int(custom_ids(message)[0].rsplit(":", 1)[1])
    await fake.click(alice, int(message["id"]), f"glyph:reroll:{job_id}")
    await fake.wait_until(lambda: len(storage.queue.list().jobs) == 2)
    new, old = storage.queue.list().jobs
    assert new.init_image_hash == old.init_image_hash is not None and new.strength == 0.3


async def test_a_button_of_a_job_that_is_gone_says_so_and_costs_no_cooldown(fake, storage, start_bot, settings):
    await start_bot(replace(settings, cooldown_s=600))
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, bob)
    gone = job_id + 1000
    fake.messages[message_id]["components"][0]["components"][0]["custom_id"] = f"glyph:reroll:{gone}"
    click = await fake.click(alice, message_id, f"glyph:reroll:{gone}")
    answer = await fake.wait_until(lambda: followups(fake, click))
    assert f"Job {gone} no longer exists" in answer[0].json["content"] and answer[0].json["flags"] & 64
    assert fake.calls("DELETE", ORIGINAL.replace("[^/]+", click.token))  # the public "thinking" message went away
    again = await fake.slash(alice, "imagine", {"prompt": "NO WAIT"})
    await fake.wait_until(lambda: len(storage.queue.list().jobs) == 2)
    assert again.callbacks[0]["type"] == 5
