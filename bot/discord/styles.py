"""Autocomplete of `/imagine`'s `style` option from the style store's names.

Discord sends an autocomplete interaction on every keystroke and shows nothing unless the answer
comes within 3 seconds; an error answers nothing at all. So the names are read at most once per
`ttl_s` (one read in flight at a time, however fast the user types), a read that takes longer than
`timeout_s` or fails (a locked or unreachable database) answers with what is cached, or with no
choices, and is logged; it never raises. Whether a typed name exists is decided at submission
(storage), not here: a style may be learned or deleted between the two. Each choice shows how its
style was learned, "neon (LoRA)" or "chalk (vectors)", and sends back the bare name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

import discord
from discord import app_commands

if TYPE_CHECKING:
    from bot.discord.context import BotContext
    from storage.types import StyleRecord

log = logging.getLogger(__name__)
MAX_CHOICES = 25  # Discord refuses an autocomplete answer with more
# How a choice names its style's method (generation.types.STYLE_METHODS); users know LoRA by that spelling.
METHOD_LABELS = {"vectors": "vectors", "lora": "LoRA"}


class StyleLister(Protocol):
    """What autocomplete needs of storage.styles.StyleStore: the styles that can be used."""

    def list(self) -> list[StyleRecord]: ...


class StyleChoice(NamedTuple):
    """A usable style as autocomplete offers it: `name` is the value sent back, `label` what the user sees."""

    name: str
    method: str

    @property
    def label(self) -> str:
        return f"{self.name} ({METHOD_LABELS.get(self.method, self.method)})"


class StyleNames:
    """The names (and methods) of the usable styles, cached for `ttl_s` and read in a thread."""

    def __init__(
        self, store: StyleLister | None, *, ttl_s: float = 10.0, timeout_s: float = 1.5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.clock = clock
        self._styles: list[StyleChoice] = []
        self._read_at: float | None = None
        self._reading: asyncio.Task[None] | None = None

    async def matching(self, typed: str) -> list[StyleChoice]:
        """Styles whose name contains what was typed (case-insensitive), those starting with it first,
        at most MAX_CHOICES."""
        styles = await self._current()
        typed = typed.strip().lower()
        found = [style for style in styles if typed in style.name]
        found.sort(key=lambda style: (not style.name.startswith(typed), style.name))
        return found[:MAX_CHOICES]

    async def _current(self) -> list[StyleChoice]:
        if self.store is None:
            return []
        if self._read_at is not None and self.clock() - self._read_at < self.ttl_s:
            return self._styles
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._refresh())
        # A slow read goes on in the background (asyncio.wait neither raises nor cancels on timeout)
        # and fills the cache for the next keystroke; this one answers with what is cached.
        _, pending = await asyncio.wait({self._reading}, timeout=self.timeout_s)
        if pending:
            log.warning("style names took over %.1f s to read; autocomplete answers with the cached ones", self.timeout_s)
        return self._styles

    async def _refresh(self) -> None:
        try:
            self._styles = await asyncio.to_thread(self._read)
            self._read_at = self.clock()
        except Exception as error:  # anything at all: autocomplete must answer
            log.warning("cannot read the style names for autocomplete: %s", error)

    def _read(self) -> list[StyleChoice]:
        assert self.store is not None
        return [StyleChoice(record.name, record.method) for record in self.store.list() if not record.deleted]


async def autocomplete_style(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """discord.py's autocomplete callback for the `style` option."""
    bot: BotContext = interaction.client  # type: ignore[assignment]
    try:
        styles = await bot.style_names.matching(current or "")
    except Exception:  # never leave Discord without an answer
        log.exception("style autocomplete failed")
        styles = []
    return [app_commands.Choice(name=style.label, value=style.name) for style in styles]
