"""Moderator commands and read-only lookups through the loopback Discord."""

from __future__ import annotations

from tests.bot.discord.flows import deliver_one


def reply_text(fake, interaction) -> str:
    posts = [r for r in fake.calls("POST", r"/webhooks/\d+/" + interaction.token) if r.status == 200]
    if posts:
        return posts[-1].json["content"]
    return interaction.callbacks[0]["data"]["content"]


async def answered(fake, interaction) -> str:
    await fake.wait_until(
        lambda: fake.calls("POST", r"/webhooks/\d+/" + interaction.token)
        or (interaction.callbacks and interaction.callbacks[0]["type"] == 4)
    )
    return reply_text(fake, interaction)


async def test_members_without_manage_messages_are_refused(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "mod", {"term": "x"}, subcommand="block")
    assert "for moderators" in await answered(fake, interaction)
    assert storage.moderation.blocked_terms() == []


async def test_ban_stops_submissions_and_unban_restores_them_with_audit(fake, storage, start_bot):
    await start_bot()
    mod, alice = fake.add_user("mod", moderator=True), fake.add_user("alice")
    assert "is banned" in await answered(fake, await fake.slash(mod, "mod", {"user": alice, "reason": "spam"}, subcommand="ban"))

    refused = await fake.slash(alice, "imagine", {"prompt": "HELLO"})
    assert "banned from generating images: spam" in await answered(fake, refused)
    assert storage.queue.list().jobs == []

    assert "not banned any more" in await answered(fake, await fake.slash(mod, "mod", {"user": alice}, subcommand="unban"))
    accepted = await fake.slash(alice, "imagine", {"prompt": "HELLO"})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    assert accepted.callbacks[0]["type"] == 5
    actions = [entry.action for entry in storage.moderation.audit_log()]
    assert actions == ["lift_ban", "ban"]


async def test_block_and_unblock_terms_and_read_the_audit_log(fake, storage, start_bot):
    await start_bot()
    mod = fake.add_user("mod", moderator=True)
    assert "refused from now on" in await answered(fake, await fake.slash(mod, "mod", {"term": "Spoiler"}, subcommand="block"))
    assert "“Spoiler”" in await answered(fake, await fake.slash(mod, "mod", subcommand="terms"))  # as typed
    assert "allowed again" in await answered(fake, await fake.slash(mod, "mod", {"term": "spoiler"}, subcommand="unblock"))
    log = await answered(fake, await fake.slash(mod, "mod", subcommand="audit"))
    assert "unblock_term Spoiler" in log and "block_term Spoiler" in log and str(mod.id) in log


async def test_hide_from_the_message_menu_hides_images_and_deletes_the_message(fake, storage, start_bot):
    await start_bot()
    alice, mod = fake.add_user("alice"), fake.add_user("mod", moderator=True)
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice)
    interaction = await fake.message_command(mod, "Hide glyphbot image", message_id)
    assert "The message was deleted" in await answered(fake, interaction)
    assert fake.messages[message_id].get("deleted")
    assert storage.queue.images_of(job_id) == []  # every candidate is hidden now
    actions = {entry.action for entry in storage.moderation.audit_log()}
    assert actions == {"hide_image", "delete_message"}


async def test_hide_by_job_id_hides_the_images_and_deletes_the_linked_message(fake, storage, start_bot):
    await start_bot()
    alice, mod = fake.add_user("alice"), fake.add_user("mod", moderator=True)
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice)
    link = f"https://discord.com/channels/{fake.guild_id}/{fake.channel_id}/{message_id}"
    text = await answered(fake, await fake.slash(mod, "mod", {"job_id": job_id, "message": link, "reason": "rude"}, subcommand="hide"))
    assert "Hid 5 image(s) of job(s)" in text and "The message was deleted" in text
    assert fake.messages[message_id].get("deleted") and storage.queue.images_of(job_id) == []
    assert {entry.action for entry in storage.moderation.audit_log()} == {"hide_image", "delete_message"}


async def test_hide_without_a_link_keeps_the_message_and_a_wrong_link_changes_nothing(fake, storage, start_bot):
    await start_bot()
    alice, mod = fake.add_user("alice"), fake.add_user("mod", moderator=True)
    storage.start_worker()
    first_message, first_job = await deliver_one(fake, alice, "FIRST")
    second_message, second_job = await deliver_one(fake, alice, "SECOND")

    wrong = await fake.slash(mod, "mod", {"job_id": first_job, "message": str(second_message)}, subcommand="hide")
    assert f"That message does not show job {first_job}" in await answered(fake, wrong)
    assert not fake.messages[second_message].get("deleted") and storage.queue.images_of(first_job)
    missing = await fake.slash(mod, "mod", {"job_id": first_job, "message": "not a link"}, subcommand="hide")
    assert "Copy Message Link" in await answered(fake, missing)

    text = await answered(fake, await fake.slash(mod, "mod", {"job_id": first_job}, subcommand="hide"))
    assert "Hid 5 image(s)" in text and "deleted" not in text
    assert not fake.messages[first_message].get("deleted") and storage.queue.images_of(first_job) == []
    assert storage.queue.images_of(second_job)


async def test_history_and_job_details_respect_ownership(fake, storage, start_bot):
    await start_bot()
    alice, bob, mod = fake.add_user("alice"), fake.add_user("bob"), fake.add_user("mod", moderator=True)
    storage.start_worker()
    _, job_id = await deliver_one(fake, alice, "ALICE TEXT")

    own = await answered(fake, await fake.slash(alice, "history"))
    assert f"`{job_id}` succeeded" in own and "ALICE TEXT" in own
    assert "Only moderators" in await answered(fake, await fake.slash(bob, "history", {"user": alice}))
    assert "ALICE TEXT" in await answered(fake, await fake.slash(mod, "history", {"user": alice}))

    assert f"No job {job_id} of yours" in await answered(fake, await fake.slash(bob, "job", {"id": job_id}))
    details = await fake.slash(alice, "job", {"id": job_id})
    assert f"**Job {job_id}** · succeeded" in await answered(fake, details)
    post = fake.calls("POST", r"/webhooks/\d+/" + details.token)[-1]
    assert post.files and post.files[0][0] == f"job-{job_id}.png"
