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
from bot.discord.attachments import Picture, mib, read_picture
from bot.discord.delivery import Delivery, Target
from bot.discord.options import ImagineOptions, OptionErrors, Submittable, parse_imagine
from bot.discord.outbox import PendingDelivery
from bot.discord.settings import DiscordSettings
from bot.discord.styles import autocomplete_style
from bot.discord.texts import fit
from generation.request_options import option
from generation.types import BOX_PLACES, RenderRequest
from storage.errors import (
    DatabaseUnavailable,
    InvalidJob,
    StorageError,
    StyleDeleted,
    StyleError,
    StyleNotFound,
    SubmissionRefused,
)
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


def refusal_text(error: StorageError, request: RenderRequest) -> str:
    """Storage's reason, which is meant for people; an unknown style's points at the CLI's style list,
    so a chat user is pointed at what they have instead: the option's own autocomplete."""
    cause = error.__cause__ if isinstance(error.__cause__, StyleError) else error
    if isinstance(cause, StyleNotFound) and not isinstance(cause, StyleDeleted):
        return f"there is no style {request.style!r}; the `style` option lists the styles there are as you type"
    return str(error)


async def submit_and_deliver(bot: "BotContext", interaction: discord.Interaction, options: Submittable) -> None:
    """Queue one job per requested image (keyed by the interaction, so a retried interaction queues nothing twice)
    and start delivering them. The interaction must already be deferred."""
    user = interaction.user
    job_ids: list[int] = []
    refusal = ""
    requests = options.requests(bot.settings.candidates)
    for index, request in enumerate(requests):
        submission = JobSubmission(
            request=request, source="discord", requester_id=str(user.id), requester_name=user.name,
            place=place_of(interaction), idempotency_key=f"discord:{interaction.id}:{index}",
        )
        try:
            job_ids.append((await bot.jobs.submit(submission)).id)
        except (SubmissionRefused, InvalidJob, StyleError) as error:  # an unknown or deleted style among them
            refusal = refusal_text(error, request)
            break
        except DatabaseUnavailable as error:
            log.warning("submission of interaction %s failed: %s", interaction.id, error)
            refusal = QUEUE_DOWN
            break
    if not job_ids:
        bot.cooldowns.forget(user.id)
        await refuse(interaction, f"❌ {refusal[:1].upper()}{refusal[1:]}")
        return
    note = f"Only {len(job_ids)} of {len(requests)} images were queued: {refusal}" if refusal else ""
    pending = PendingDelivery(
        key=f"{interaction.id}", job_ids=job_ids, user_id=user.id, channel_id=interaction.channel_id or 0,
        guild_id=interaction.guild_id, prompt=options.title, note=note,
    )
    await asyncio.to_thread(bot.outbox.add, pending)
    target = Target.of(interaction, bot.settings.token_lifetime_s, bot.settings.token_margin_s)
    bot.spawn(Delivery(bot, target, pending).run(), name=f"deliver-{job_ids[0]}")


async def deferred(bot: "BotContext", interaction: discord.Interaction) -> None:
    """Acknowledge a command that passed its checks ("thinking", in public). Too late: nothing was
    queued, so the cooldown is given back and the client logs the dropped interaction."""
    try:
        await interaction.response.defer(thinking=True)
    except discord.NotFound:
        bot.cooldowns.forget(interaction.user.id)
        raise


async def read_attachments(
    bot: "BotContext", interaction: discord.Interaction, attachments: dict[str, discord.Attachment | None]
) -> dict[str, Picture] | None:
    """The attached pictures by option name, read and normalised after the acknowledgement; None after
    refusing (the first one that cannot be read is named)."""
    pictures: dict[str, Picture] = {}
    for name, attachment in attachments.items():
        if attachment is None:
            continue
        try:
            data = await attachment.read()
            pictures[name] = await asyncio.to_thread(read_picture, data, max_bytes=bot.settings.max_init_image_bytes)
        except (ValueError, discord.HTTPException) as error:
            bot.cooldowns.forget(interaction.user.id)
            await refuse(interaction, f"❌ {name}: {error}")
            return None
    return pictures


def check_sizes(settings: DiscordSettings, attachments: dict[str, discord.Attachment | None]) -> None:
    """Refuse attachments over the size limit from the size Discord states, before anything is downloaded."""
    limit = settings.max_init_image_bytes
    problems = [f"{name}: is {mib(a.size)}; the limit is {mib(limit)}." for name, a in attachments.items() if a and a.size > limit]
    if problems:
        raise OptionErrors(problems)


@app_commands.command(name="imagine", description="Draw a picture that shows your text")
@app_commands.guild_only()
@app_commands.describe(
    prompt=r"The text the picture should show; write \n for a new line",
    negative="What to steer away from (a negative prompt)",
    guidance="How strictly to follow the text (higher is stricter)",
    steps="Diffusion steps: more is slower and usually cleaner",
    seed="Seed for a repeatable picture",
    count="How many pictures",
    image="A picture to start from (img2img), or to write the text into (with box or where)",
    strength="With an image: how much to change it (0 to 1)",
    style="A learned style: start typing to see the styles there are",
    style_image="A reference picture whose colours, background and texture the result takes on",
    style_strength="With a style or style_image: how strongly it steers the result (0 to 1)",
    box="With an image: write the text into this box only, X,Y,W,H in its pixels (0,0 is the top left)",
    where="With an image: write the text into a band at its top, center or bottom; the rest stays",
    template="What the picture is: a tweet, a sign, a meme...; left out, the text's shape picks",
)
@app_commands.choices(
    where=[app_commands.Choice(name=place, value=place) for place in BOX_PLACES],
    template=[app_commands.Choice(name=name, value=name) for name in option("template").choices],
)
@app_commands.autocomplete(style=autocomplete_style)
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
    style: str | None = None,
    style_image: discord.Attachment | None = None,
    style_strength: float | None = None,
    box: str | None = None,
    where: str | None = None,
    template: str | None = None,
) -> None:
    bot: BotContext = interaction.client  # type: ignore[assignment]
    attachments = {"image": image, "style_image": style_image}

    def parse(settings: DiscordSettings) -> ImagineOptions:
        check_sizes(settings, attachments)
        return parse_imagine(
            settings, prompt=prompt, negative=negative, guidance=guidance, steps=steps, seed=seed,
            count=count, strength=strength, has_image=image is not None, style=style, style_strength=style_strength,
            has_style_image=style_image is not None, box=box, where=where, template=template,
        )

    options = await checked(interaction, parse)
    if options is None or not await claim_cooldown(bot, interaction):
        return
    await deferred(bot, interaction)
    pictures = await read_attachments(bot, interaction, attachments)
    if pictures is None:
        return
    try:
        options = options.with_pictures(pictures.get("image"), pictures.get("style_image"))
    except ValueError as error:  # the box does not fit the picture
        bot.cooldowns.forget(interaction.user.id)
        await refuse(interaction, f"❌ {error}")
        return
    await submit_and_deliver(bot, interaction, options)
