"""`/tween start end [frames] [seed]`: one job of kind "tween" whose result is an animated GIF.

A tween is a job like any other (queued, watched, delivered, in `/history`), so it goes through the
same submission and delivery as `/imagine`; only its options and its request differ. Its frames share
one seed (the noise is held fixed while the text moves from `start` to `end`), so there is one request,
drawn once per frame, with no OCR candidates to choose between.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord.imagine import checked, claim_cooldown, deferred, submit_and_deliver
from bot.discord.options import OptionErrors, check_number, check_seed, pick_seed, typed_text
from bot.discord.settings import DiscordSettings
from bot.discord.texts import tween_title
from generation.request_options import asked
from generation.request_parsers import normalize_prompt
from generation.types import MAX_TWEEN_FRAMES, MIN_TWEEN_FRAMES, RenderRequest

if TYPE_CHECKING:
    from bot.discord.context import BotContext

TWEEN_CANDIDATES = 1


@dataclass(frozen=True)
class TweenOptions:
    """A validated `/tween`; every other setting is `defaults`' (`[generation]`'s)."""

    defaults: RenderRequest
    start: str
    end: str
    frames: int
    seed: int

    @property
    def title(self) -> str:
        return tween_title(self.start, self.end)

    def requests(self, candidates: int | None) -> list[RenderRequest]:
        """One tween job; `candidates` (the images per /imagine) does not apply to it."""
        return [
            asked(self.defaults, self.start, end_prompt=self.end, kind="tween", frames=self.frames, seed=self.seed,
                  candidates=TWEEN_CANDIDATES)
        ]


def parse_tween(
    settings: DiscordSettings, *, start: str, end: str, frames: int | None = None, seed: int | None = None,
    rng: random.Random | None = None,
) -> TweenOptions:
    """Return validated options or raise OptionErrors listing every bad value, as parse_imagine does."""
    problems: list[str] = []
    start = typed_text(problems, "start", start, settings.max_prompt_chars, required=True)
    end = typed_text(problems, "end", end, settings.max_prompt_chars, required=True)
    if start and end and normalize_prompt(start) == normalize_prompt(end):
        problems.append("end: is the same text as start; a tween moves between two different texts.")
    frames = settings.tween_frames_default if frames is None else frames
    check_number(problems, "frames", frames, MIN_TWEEN_FRAMES, min(settings.tween_frames_max, MAX_TWEEN_FRAMES))
    check_seed(problems, seed)
    if problems:
        raise OptionErrors(problems)
    return TweenOptions(settings.defaults, start, end, int(frames), pick_seed(seed, rng))


@app_commands.command(name="tween", description="An animated GIF whose text morphs from one prompt into another")
@app_commands.guild_only()
@app_commands.describe(
    start=r"The text of the first frame; write \n for a new line",
    end=r"The text of the last frame (different from start); write \n for a new line",
    frames=f"How many frames, both ends included (at least {MIN_TWEEN_FRAMES}; an error names the most this bot allows)",
    seed="Seed for a repeatable animation (the same noise is used for every frame)",
)
async def tween_command(
    interaction: discord.Interaction, start: str, end: str, frames: int | None = None, seed: int | None = None
) -> None:
    bot: BotContext = interaction.client  # type: ignore[assignment]
    options = await checked(interaction, lambda settings: parse_tween(settings, start=start, end=end, frames=frames, seed=seed))
    if options is None or not await claim_cooldown(bot, interaction):
        return
    await deferred(bot, interaction)
    await submit_and_deliver(bot, interaction, options)
