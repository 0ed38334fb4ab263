"""Persistent buttons: the custom_id carries the action and the job id, everything else is in the database.

Because `JobButton` is a `DynamicItem` registered on the client, a click is routed to it by matching
the custom_id, with no view kept in memory: buttons keep working after the bot restarts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from bot.discord.context import BotContext

ACTIONS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "reroll": ("Reroll", "🔁", discord.ButtonStyle.primary),
    "vary": ("Variations", "🎨", discord.ButtonStyle.secondary),
    "cands": ("Candidates", "🔍", discord.ButtonStyle.secondary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
    "cancel": ("Cancel", "✖️", discord.ButtonStyle.danger),
}
CUSTOM_ID = re.compile(r"glyph:(?P<action>reroll|vary|cands|delete|cancel):(?P<job_id>[0-9]{1,19})")


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID):
    def __init__(self, action: str, job_id: int, *, number: int | None = None, row: int | None = None) -> None:
        label, emoji, style = ACTIONS[action]
        if number is not None:
            label = f"{label} #{number}"
        super().__init__(discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=f"glyph:{action}:{job_id}"), row=row)
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /) -> "JobButton":
        return cls(match["action"], int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: BotContext = interaction.client  # type: ignore[assignment]
        await bot.on_job_button(interaction, self.action, self.job_id)


def pending_view(job_ids: list[int]) -> discord.ui.View:
    """While jobs are queued or running: one cancel button per image."""
    view = discord.ui.View(timeout=None)
    for index, job_id in enumerate(job_ids):
        view.add_item(JobButton("cancel", job_id, number=index + 1 if len(job_ids) > 1 else None))
    return view


STILL_ACTIONS = ("reroll", "vary", "cands")
TWEEN_ACTIONS = ("reroll", "cands")  # an animation has no still image to vary; Candidates lists its frames


def result_view(job_ids: list[int], actions: tuple[str, ...] = STILL_ACTIONS) -> discord.ui.View:
    """Under a result: a row per image (reroll, variations, candidates); delete once, on the first row."""
    view = discord.ui.View(timeout=None)
    many = len(job_ids) > 1
    for index, job_id in enumerate(job_ids):
        number = index + 1 if many else None
        for action in actions:
            view.add_item(JobButton(action, job_id, number=number, row=index))
    if job_ids:
        view.add_item(JobButton("delete", job_ids[0], row=0))
    return view


def job_ids_in(message: discord.Message) -> list[int]:
    """The jobs a bot message is about, read back from its buttons (for the moderators' hide command)."""
    found: list[int] = []
    for row in message.components:
        for component in getattr(row, "children", [row]):
            match = CUSTOM_ID.fullmatch(getattr(component, "custom_id", None) or "")
            if match and int(match["job_id"]) not in found:
                found.append(int(match["job_id"]))
    return found
