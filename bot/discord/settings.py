"""The Discord adapter's settings, resolved from the app settings' `[discord]` section.

A plain frozen dataclass so the adapter and its tests do not depend on pydantic. The token comes
from the environment (GLYPHBOT_DISCORD__TOKEN) or a token file outside the repository, through
`config.settings`; it is excluded from repr so a logged settings object never leaks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from generation.request_options import configured
from generation.types import RenderRequest

# Discord's interaction tokens live 15 minutes; stop using one a little before, so a slow upload
# does not start on a token that dies mid-request.
TOKEN_LIFETIME_S = 15 * 60
TOKEN_MARGIN_S = 30.0


@dataclass(frozen=True)
class DiscordSettings:
    """Every knob of the adapter; `config/default.toml`'s `[discord]` section documents each one."""

    token: str = field(default="", repr=False)
    guild_ids: tuple[int, ...] = ()
    progress_edit_interval_s: float = 2.0
    max_upload_mib: float = 10.0
    max_prompt_chars: int = 380
    guidance_min: float = 0.0
    guidance_max: float = 10.0
    steps_min: int = 5
    steps_max: int = 150
    count_max: int = 4
    count_default: int = 1
    candidates: int | None = None  # None: the defaults' ([generation] candidates)
    strength_default: float = 0.75
    variation_strength: float = 0.6
    max_init_image_mib: float = 8.0
    style_strength_default: float = 0.5
    tween_frames_default: int = 12
    tween_frames_max: int = 24
    cooldown_s: float = 10.0
    sync_commands: bool = True
    state_dir: str = "data/discord"
    token_lifetime_s: float = TOKEN_LIFETIME_S
    token_margin_s: float = TOKEN_MARGIN_S
    # What every request starts from: `[generation]`'s defaults (steps, guidance, sampler, candidates...).
    defaults: RenderRequest = field(default_factory=configured)

    @property
    def max_init_image_bytes(self) -> int:
        return int(self.max_init_image_mib * 1024 * 1024)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mib * 1024 * 1024)

    @classmethod
    def from_settings(cls, settings: Any) -> "DiscordSettings":
        """From `config.settings.Settings` (or pass a DiscordSettings through unchanged)."""
        if isinstance(settings, cls):
            return settings
        from config.settings import read_secret_file

        section = settings.discord
        token = ""
        if section.token is not None:
            token = section.token.get_secret_value()
        elif section.token_file is not None:
            token = read_secret_file(section.token_file, "discord.token_file")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in section.model_dump(exclude={"token", "token_file"}).items() if k in known}
        values["guild_ids"] = tuple(values.get("guild_ids", ()))
        return cls(token=token, state_dir=str(settings.storage.data_dir / "discord"),
                   defaults=configured(settings.generation.model_dump()), **values)
