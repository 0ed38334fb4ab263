"""Discord's sharp edges: expired tokens, 429s, gateway drops, vanished channels, command sync budget."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import discord
import pytest

from bot.discord.client import GlyphBot
from tests.bot.discord.flows import ORIGINAL, deliver_one, result_of


def channel_posts(fake):
    return [r for r in fake.calls("POST", rf"/channels/{fake.channel_id}/messages") if r.status == 200]


async def test_result_after_token_expiry_goes_to_the_channel_with_a_mention(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "LATE", "seed": 3})
    await fake.wait_until(lambda: storage.queue.list().jobs and interaction.original_message_id)
    fake.expire_token(interaction.token)  # Discord now answers 401 for this token
    fake.rate_limit("POST", rf"/channels/{fake.channel_id}/messages", retry_after=0.2)
    storage.start_worker()

    posts = await fake.wait_until(lambda: channel_posts(fake))
    assert [r.status for r in fake.calls("POST", rf"/channels/{fake.channel_id}/messages")] == [429, 200]
    post = posts[0]
    assert post.json["content"].startswith(f"<@{alice.id}>\n> ")
    assert [int(u) for u in post.json["allowed_mentions"]["users"]] == [alice.id]
    assert post.files and post.files[0][2].startswith(b"\x89PNG")
    assert any(c["custom_id"].startswith("glyph:reroll:") for row in post.json["components"] for c in row["components"])


async def test_an_interaction_acknowledged_too_late_queues_nothing_and_costs_no_cooldown(fake, storage, start_bot, settings, caplog):
    await start_bot(replace(settings, cooldown_s=600))
    alice = fake.add_user("alice")
    with caplog.at_level(logging.WARNING, logger="bot.discord"):
        late = await fake.slash(alice, "imagine", {"prompt": "TOO LATE"}, too_late=True)
        await fake.wait_until(lambda: "could not be acknowledged in time" in caplog.text)
    assert [r.status for r in fake.calls("POST", rf"/interactions/{late.id}/.*")] == [404]  # no second try
    again = await fake.slash(alice, "imagine", {"prompt": "IN TIME"})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    assert [job.prompt for job in storage.queue.list().jobs] == ["IN TIME"] and again.callbacks[0]["type"] == 5


async def test_interaction_older_than_the_token_lifetime_skips_the_webhook(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    # Discord itself would refuse to deliver so old an interaction; what matters is the bot's own clock check.
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)
    interaction = await fake.slash(alice, "imagine", {"prompt": "OLD"}, created=old)
    await fake.wait_until(lambda: channel_posts(fake))
    assert [r for r in fake.calls("PATCH", ORIGINAL) if r.path.endswith("@original")] == []
    assert interaction.callbacks[0]["type"] == 5


async def test_429_on_an_edit_is_waited_out_and_the_result_still_arrives(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    fake.rate_limit("PATCH", ORIGINAL, times=2, retry_after=0.25)
    storage.start_worker()
    message_id, _ = await deliver_one(fake, alice, "LIMITED")
    statuses = [r.status for r in fake.calls("PATCH", ORIGINAL)]
    assert statuses[:2] == [429, 429] and statuses[2] == 200
    first, retry = fake.calls("PATCH", ORIGINAL)[1:3]
    assert retry.at - first.at >= 0.24  # retry_after honoured
    assert fake.messages[message_id]["attachments"]


async def test_gateway_drop_resumes_and_in_flight_jobs_still_deliver(fake, storage, start_bot):
    bot = await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "RESUME"})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    await fake.drop_gateway()
    storage.start_worker()
    await fake.wait_until(lambda: result_of(fake, interaction))
    await fake.wait_until(lambda: fake.resume_count == 1)
    assert fake.identify_count == 1  # resumed, not re-identified
    # Interactions keep arriving over the resumed session.
    again = await fake.slash(alice, "imagine", {"prompt": "AFTER"})
    await fake.wait_until(lambda: again.callbacks)
    assert bot.is_ready()
    # Both connections spoke zlib-stream, as discord.py asks for: a fresh stream on the resumed one.
    assert fake.gateway_compression == ["zlib-stream", "zlib-stream"] and fake.compressed_frames >= 6


async def test_an_invalidated_session_identifies_again_and_in_flight_jobs_still_deliver(fake, storage, start_bot, monkeypatch):
    async def identify_at_once(self, shard_id, *, initial=False):  # noqa: ANN001, ANN202
        """discord.py waits 5 s before a repeated IDENTIFY (Discord's pacing); nothing here depends on that wait."""

    monkeypatch.setattr(GlyphBot, "before_identify_hook", identify_at_once)
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "NEW SESSION"})
    await fake.wait_until(lambda: storage.queue.list().jobs and interaction.original_message_id)
    await fake.invalidate_sessions()
    await fake.wait_until(lambda: fake.identify_count == 2)
    assert fake.resume_count == 0  # the RESUME was refused, so the client identified anew
    storage.start_worker()
    await fake.wait_until(lambda: result_of(fake, interaction))
    again = await fake.slash(alice, "imagine", {"prompt": "AFTER"})
    await fake.wait_until(lambda: again.callbacks)
    assert again.callbacks[0]["type"] == 5


@pytest.mark.parametrize("break_channel, status", [("deny_channel", 403), ("delete_channel", 404)])
async def test_missing_permission_or_deleted_channel_fails_only_that_delivery(fake, storage, start_bot, caplog, break_channel, status):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "NOWHERE"})
    await fake.wait_until(lambda: storage.queue.list().jobs and interaction.original_message_id)
    fake.expire_token(interaction.token)
    getattr(fake, break_channel)(fake.channel_id)
    with caplog.at_level(logging.WARNING, logger="bot.discord.delivery"):
        storage.start_worker()
        await fake.wait_until(lambda: [r for r in fake.calls("POST", rf"/channels/{fake.channel_id}/messages") if r.status == status])
        await fake.wait_until(lambda: "cannot deliver jobs" in caplog.text)
    assert f"{status}" in caplog.text
    fake.denied_channels.clear()
    fake.deleted_channels.clear()
    # The bot still serves other requests.
    next_one = await fake.slash(alice, "imagine", {"prompt": "STILL HERE"})
    await fake.wait_until(lambda: next_one.callbacks)
    assert next_one.callbacks[0]["type"] == 5


async def test_the_bot_asks_only_for_the_unprivileged_guilds_intent(fake, start_bot):
    await start_bot()
    assert fake.identified_intents == discord.Intents(guilds=True).value  # nothing to enable in the Developer Portal


async def test_command_tree_is_synced_only_when_it_changed(fake, storage, start_bot, settings):
    first = await start_bot()
    assert fake.command_overwrites == 1
    names = {c["name"] for c in fake.global_commands}
    assert {"imagine", "imagine-lines", "history", "job", "mod", "Hide glyphbot image"} <= names
    await first.close()
    second = await start_bot()
    assert fake.command_overwrites == 1  # same payload: no sync, the daily create budget is spared
    await second.close()
    await start_bot(replace(settings, state_dir=settings.state_dir + "-elsewhere"))
    assert fake.command_overwrites == 2  # no record of the last sync: sync again


async def test_development_guilds_get_the_commands_instead_of_global(fake, storage, start_bot, settings):
    await start_bot(replace(settings, guild_ids=(fake.guild_id,)))
    assert fake.command_overwrites == 0
    assert "imagine" in {c["name"] for c in fake.guild_commands[fake.guild_id]}


async def test_results_of_requests_made_before_a_restart_still_arrive(fake, storage, start_bot):
    first = await start_bot()
    alice = fake.add_user("alice")
    await fake.slash(alice, "imagine", {"prompt": "SURVIVES A RESTART"})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    await first.close()  # shut down while the job waits for a worker
    await start_bot()
    storage.start_worker()
    post = (await fake.wait_until(lambda: channel_posts(fake)))[0]
    assert post.json["content"].startswith(f"<@{alice.id}>\n> ") and "SURVIVES A RESTART" in post.json["content"]
    assert post.files
    await fake.wait_until(lambda: not list((Path(first.settings.state_dir) / "outbox").glob("*.json")))


async def test_locked_database_refuses_clearly_and_a_retry_works(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    blocker = sqlite3.connect(storage.path)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock past the busy timeout
    try:
        refused = await fake.slash(alice, "imagine", {"prompt": "LOCKED OUT"})
        followup = await fake.wait_until(lambda: fake.calls("POST", r"/webhooks/\d+/" + refused.token))
        assert "queue is unavailable right now, so nothing was queued" in followup[0].json["content"]
    finally:
        blocker.rollback()
        blocker.close()
    again = await fake.slash(alice, "imagine", {"prompt": "LOCKED OUT"})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    assert again.callbacks[0]["type"] == 5


async def test_queue_limit_queues_what_fits_and_says_what_did_not(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    first = await fake.slash(alice, "imagine", {"prompt": "ONE", "count": 3})
    await fake.wait_until(lambda: len(storage.queue.list().jobs) == 3 and first.original_message_id)
    second = await fake.slash(alice, "imagine", {"prompt": "TWO", "count": 2})
    message = await fake.wait_until(lambda: (m := fake.messages.get(second.original_message_id or 0)) and "Only 1 of 2" in m["content"] and m)
    assert "the limit is 4" in message["content"]
    third = await fake.slash(alice, "imagine", {"prompt": "THREE"})
    followup = await fake.wait_until(lambda: fake.calls("POST", r"/webhooks/\d+/" + third.token))
    assert "You already have 4 jobs waiting; the limit is 4" in followup[0].json["content"]
    assert len(storage.queue.list().jobs) == 4
