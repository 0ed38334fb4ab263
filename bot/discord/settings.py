"""The Discord adapter's settings: limits users may choose within, pacing, and where small state lives.

The token is read only from the environment (GLYPHBOT_DISCORD__TOKEN) and is excluded from repr so a
logged settings object never leaks it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

TOKEN_ENV = "GLYPHBOT_DISCORD__TOKEN"


@dataclass(frozen=True)
class DiscordSettings:
    """Every knob of the adapter; `config/default.toml`'s `[discord]` section documents each one."""

    token: str = field(default="", repr=False)
    max_prompt_chars: int = 380
    guidance_min: float = 0.0
    guidance_max: float = 10.0
    guidance_default: float = 2.0
    steps_min: int = 5
    steps_max: int = 150
    steps_default: int = 50
    count_max: int = 4
    count_default: int = 1
    candidates: int = 4
    strength_default: float = 0.75
    variation_strength: float = 0.6
    max_init_image_bytes: int = 8 * 1024 * 1024
    cooldown_s: float = 10.0
    progress_interval_s: float = 2.0
    token_lifetime_s: float = 15 * 60
    token_margin_s: float = 30.0
    state_dir: str = "data/discord"
    sync_commands: bool = True

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None) -> "DiscordSettings":
        """Build from a `[discord]` table (unknown keys are an error: a typo must not pass silently)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)} - {"token"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown [discord] settings: {', '.join(unknown)}")
        env = os.environ if environ is None else environ
        return cls(token=env.get(TOKEN_ENV, ""), **values)

    @classmethod
    def from_settings(cls, settings: Any) -> "DiscordSettings":
        """Accept the app-wide settings object (its `discord` section), a mapping, or this class itself."""
        if isinstance(settings, cls):
            return settings
        section = getattr(settings, "discord", None) if not isinstance(settings, Mapping) else settings.get("discord")
        if section is None:
            return cls.from_mapping({})
        if isinstance(section, cls):
            return section
        if isinstance(section, Mapping):
            return cls.from_mapping(section)
        dumped = section.model_dump() if hasattr(section, "model_dump") else vars(section)
        token = dumped.pop("token", None)
        token = token.get_secret_value() if hasattr(token, "get_secret_value") else token
        known = {f.name for f in fields(cls)}
        result = cls.from_mapping({k: v for k, v in dumped.items() if k in known})
        return result if not token else cls(**{**{f.name: getattr(result, f.name) for f in fields(cls)}, "token": token})
