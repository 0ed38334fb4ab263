"""`/imagine-lines`: a form for multi-line text, since slash-command options cannot hold newlines.

The form is routed like the buttons, by its custom_id (which carries the command's numbers), not by
an object kept in memory: a form a user opened before the bot restarted still works after it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.discord.imagine import checked, imagine_command
from bot.discord.options import check_form_options

if TYPE_CHECKING:
    from bot.discord.context import BotContext

TEXT_INPUT_MAX = 4000  # Discord refuses a whole form whose text input allows more
FORM_ID = re.compile(r"glyph:lines:(?P<guidance>[0-9.e+-]*):(?P<steps>-?[0-9]*):(?P<seed>-?[0-9]*):(?P<count>-?[0-9]*)")


def form_id(guidance: float | None, steps: int | None, seed: int | None, count: int | None) -> str:
    """The numbers travel in the custom_id (well under Discord's 100 characters); empty means "not given"."""
    return "glyph:lines:" + ":".join("" if value is None else repr(value) for value in (guidance, steps, seed, count))


class PromptForm(discord.ui.Modal, title="Imagine"):
    """The form's layout only: `submit_form` handles what comes back."""

    prompt: discord.ui.TextInput["PromptForm"] = discord.ui.TextInput(
        label="Text to draw (one line per line)", style=discord.TextStyle.paragraph, custom_id="prompt"
    )
    negative: discord.ui.TextInput["PromptForm"] = discord.ui.TextInput(
        label="Negative prompt (optional)", style=discord.TextStyle.paragraph, custom_id="negative", required=False
    )

    def __init__(self, max_chars: int, *, guidance: float | None, steps: int | None, seed: int | None, count: int | None) -> None:
        super().__init__(timeout=None, custom_id=form_id(guidance, steps, seed, count))
        self.prompt.max_length = self.negative.max_length = min(max_chars, TEXT_INPUT_MAX)


@app_commands.command(name="imagine-lines", description="Draw a picture of several lines of text (opens a form)")
@app_commands.guild_only()
@app_commands.describe(guidance="How strictly to follow the text", steps="Diffusion steps", seed="Seed", count="How many pictures")
async def imagine_lines_command(
    interaction: discord.Interaction,
    guidance: float | None = None,
    steps: int | None = None,
    seed: int | None = None,
    count: int | None = None,
) -> None:
    bot: BotContext = interaction.client  # type: ignore[assignment]
    numbers = await checked(
        interaction, lambda settings: check_form_options(settings, guidance=guidance, steps=steps, seed=seed, count=count)
    )
    if numbers is None:
        return
    form = PromptForm(bot.settings.max_prompt_chars, **numbers)  # type: ignore[arg-type]
    await interaction.response.send_modal(form)
    form.stop()  # forget it at once: submissions go through submit_form, before and after a restart alike


def is_form(interaction: discord.Interaction) -> bool:
    custom_id = (interaction.data or {}).get("custom_id", "")
    return interaction.type is discord.InteractionType.modal_submit and FORM_ID.fullmatch(str(custom_id)) is not None


async def submit_form(interaction: discord.Interaction) -> None:
    """Run /imagine with the form's text and the numbers its custom_id carries (checked again there)."""
    found = FORM_ID.fullmatch(str((interaction.data or {}).get("custom_id", "")))
    if found is None:
        return
    guidance, steps, seed, count = (found[name] for name in ("guidance", "steps", "seed", "count"))
    texts = _text_values((interaction.data or {}).get("components", []))
    await imagine_command.callback(  # type: ignore[call-arg]
        interaction,
        prompt=texts.get("prompt", ""),
        negative=texts.get("negative") or None,
        guidance=float(guidance) if guidance else None,
        steps=int(steps) if steps else None,
        seed=int(seed) if seed else None,
        count=int(count) if count else None,
    )


def _text_values(components: Any) -> dict[str, str]:
    """custom_id -> value of every text input, in either layout Discord sends (action rows or labels)."""
    found: dict[str, str] = {}
    for component in components if isinstance(components, list) else [components]:
        if not isinstance(component, dict):
            continue
        if "custom_id" in component and "value" in component:
            found[component["custom_id"]] = component["value"]
        for key in ("components", "component"):
            if key in component:
                found.update(_text_values(component[key]))
    return found
