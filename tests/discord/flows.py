"""Steps and reads that many Discord tests share: what the bot's reply looks like, and one full request."""

from __future__ import annotations

from typing import Any

from tests.discord.fake_discord import FakeDiscord, FakeInteraction, FakeUser, RecordedRequest

ORIGINAL = r"/webhooks/\d+/[^/]+/messages/@original"


def original(fake: FakeDiscord, interaction: FakeInteraction) -> dict[str, Any] | None:
    """The interaction's reply message as it stands now (None before the bot answered)."""
    return fake.messages.get(interaction.original_message_id or 0)


def result_of(fake: FakeDiscord, interaction: FakeInteraction) -> dict[str, Any] | None:
    """The reply once it carries the final images. A reply in progress can carry attachments too (the
    base-stage previews), so attachments alone do not mean the result arrived."""
    message = original(fake, interaction)
    if not message or not message["attachments"]:
        return None
    if any(a["filename"].startswith("preview-") for a in message["attachments"]):
        return None
    return message


def followups(fake: FakeDiscord, interaction: FakeInteraction) -> list[RecordedRequest]:
    """Follow-up messages the bot sent for this interaction and Discord accepted."""
    return [r for r in fake.calls("POST", r"/webhooks/\d+/" + interaction.token) if r.status == 200]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def deliver_one(fake: FakeDiscord, user: FakeUser, prompt: str = "BUTTONS", **options: Any) -> tuple[int, int]:
    """Run /imagine until its result is posted; returns (message id, job id)."""
    interaction = await fake.slash(user, "imagine", {"prompt": prompt, **options})
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    job_id = int(custom_ids(message)[0].rsplit(":", 1)[1])
    return int(message["id"]), job_id
