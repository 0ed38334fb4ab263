"""`/imagine`, and the submission path that its form (form.py), rerolls and variations share.

Order matters for Discord's 3-second rule: pure checks (options, cooldown) answer at once with an
ephemeral error; everything that touches the network or the database happens after `defer()`.
A refusal found after deferring (ban, blocked term, queue limit) deletes the public "thinking"
message and answers ephemerally, so the channel never shows a refused prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands

from bot.discord.access import place_of
from bot.discord.attachments import mib, to_png
from bot.discord.delivery import Delivery, Target
from bot.discord.options import ImagineOptions, OptionErrors, parse_imagine
from bot.discord.outbox import PendingDelivery
from bot.discord.settings import DiscordSettings
from bot.discord.texts import fit
from storage.errors import DatabaseUnavailable, InvalidJob, SubmissionRefused
from storage.types import JobSubmission

if TYPE_CHECKING:
    from bot.discord.context import BotContext

log = logging.getLogger(__name__)
DM_REFUSAL = "glyphbot draws in servers only: use /imagine in a server channel where the bot is present."
T = TypeVar("T")
UNKNOWN_INTERACTION = 10062  # Discord's error code
QUEUE_DOWN = "The image queue is unavailable right now, so nothing was queued. Please try again in a minute."


async def refuse(interaction: discord.Interaction, text: str) -> None:
    """Answer with an ephemeral error, whether or not the interaction was already acknowledged."""
    text = fit(text)
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True)
        return
    if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
        # Remove the "thinking" message, so the channel never shows a refused request. (After a
        # deferred update, "original" is the clicked message itself: that one stays.)
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
    await interaction.followup.send(text, ephemeral=True)


def too_late(error: BaseException) -> bool:
    """Discord forgot the interaction because its 3 seconds passed before the bot answered: nobody
    can be told anything about it any more."""
    return isinstance(error, discord.NotFound) and error.code == UNKNOWN_INTERACTION


async def checked(interaction: discord.Interaction, parse: Callable[[DiscordSettings], T]) -> T | None:
    """The checks every entry point makes before answering (servers only, options within the limits):
    pure, so a refusal goes out at once; returns None after refusing, else what `parse` returned."""
    bot: BotContext = interaction.client  # type: ignore[assignment]
    if interaction.guild_id is None:
        await refuse(interaction, DM_REFUSAL)
        return None
    try:
        return parse(bot.settings)
    except OptionErrors as errors:
        await refuse(interaction, "❌ Some options need fixing:\n" + "\n".join(f"• {p}" for p in errors.problems))
        return None


async def claim_cooldown(bot: "BotContext", interaction: discord.Interaction) -> bool:
    """Refuse while the user's cooldown runs; otherwise start it now, before any await, so two quick
    requests cannot both pass (it is forgotten again if the submission is refused)."""
    wait = bot.cooldowns.remaining(interaction.user.id)
    if wait > 0:
        await refuse(interaction, f"⏱️ Please wait {wait:.0f} s before asking for another image.")
        return False
    bot.cooldowns.start(interaction.user.id)
    return True


async def submit_and_deliver(bot: "BotContext", interaction: discord.Interaction, options: ImagineOptions) -> None:
    """Queue one job per requested image (keyed by the interaction, so a retried interaction queues nothing twice)
    and start delivering them. The interaction must already be deferred."""
    user = interaction.user
    job_ids: list[int] = []
    refusal = ""
    for index, request in enumerate(options.requests(bot.settings.candidates)):
        submission = JobSubmission(
            request=request, source="discord", requester_id=str(user.id), requester_name=user.name,
            place=place_of(interaction), idempotency_key=f"discord:{interaction.id}:{index}",
        )
        try:
            job_ids.append((await bot.jobs.submit(submission)).id)
        except (SubmissionRefused, InvalidJob) as error:
            refusal = str(error)
            break
        except DatabaseUnavailable as error:
            log.warning("submission of interaction %s failed: %s", interaction.id, error)
            refusal = QUEUE_DOWN
            break
    if not job_ids:
        bot.cooldowns.forget(user.id)
        await refuse(interaction, f"❌ {refusal[:1].upper()}{refusal[1:]}")
        return
    note = f"Only {len(job_ids)} of {options.count} images were queued: {refusal}" if refusal else ""
    pending = PendingDelivery(
        key=f"{interaction.id}", job_ids=job_ids, user_id=user.id, channel_id=interaction.channel_id or 0,
        guild_id=interaction.guild_id, prompt=options.prompt, note=note,
    )
    await asyncio.to_thread(bot.outbox.add, pending)
    target = Target.of(interaction, bot.settings.token_lifetime_s, bot.settings.token_margin_s)
    bot.spawn(Delivery(bot, target, pending).run(), name=f"deliver-{job_ids[0]}")


@app_commands.command(name="imagine", description="Draw a picture that shows your text")
@app_commands.guild_only()
@app_commands.describe(
    prompt=r"The text the picture should show; write \n for a new line",
    negative="What to steer away from (a negative prompt)",
    guidance="How strictly to follow the text (higher is stricter)",
    steps="Diffusion steps: more is slower and usually cleaner",
    seed="Seed for a repeatable picture",
    count="How many pictures",
    image="A picture to start from (img2img)",
    strength="With an image: how much to change it (0 to 1)",
)
async def imagine_command(
    interaction: discord.Interaction,
    prompt: str,
    negative: str | None = None,
    guidance: float | None = None,
    steps: int | None = None,
    seed: int | None = None,
    count: int | None = None,
    image: discord.Attachment | None = None,
    strength: float | None = None,
) -> None:
    bot: BotContext = interaction.client  # type: ignore[assignment]

    def parse(settings: DiscordSettings) -> ImagineOptions:
        if image is not None and image.size > settings.max_init_image_bytes:
            raise OptionErrors([f"image: is {mib(image.size)}; the limit is {mib(settings.max_init_image_bytes)}."])
        return parse_imagine(
            settings, prompt=prompt, negative=negative, guidance=guidance, steps=steps, seed=seed,
            count=count, strength=strength, has_image=image is not None,
        )

    options = await checked(interaction, parse)
    if options is None or not await claim_cooldown(bot, interaction):
        return
    try:
        await interaction.response.defer(thinking=True)
    except discord.NotFound:  # too late: nothing was queued, so the cooldown is given back
        bot.cooldowns.forget(interaction.user.id)
        raise
    if image is not None:
        try:
            data = await image.read()
            png = await asyncio.to_thread(to_png, data, max_bytes=bot.settings.max_init_image_bytes)
        except (ValueError, discord.HTTPException) as error:
            bot.cooldowns.forget(interaction.user.id)
            await refuse(interaction, f"❌ image: {error}")
            return
        options = options.with_image(png)
    await submit_and_deliver(bot, interaction, options)
