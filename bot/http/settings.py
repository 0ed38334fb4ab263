"""Settings of the HTTP side: the `[http]` section's model from config.settings, one definition for both.

The HTTP code must run (and be tested) with nothing but these values, whatever shape the caller holds,
so `http_settings()` accepts the global settings object, a plain mapping or nothing at all and always
returns a validated `HttpSettings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from config.settings import HttpSettings

__all__ = ["HttpSettings", "http_settings"]


def http_settings(settings: Any = None) -> HttpSettings:
    """The `[http]` settings found in `settings` (an object with `.http`, a mapping, or None for defaults)."""
    if settings is None:
        return HttpSettings()
    if isinstance(settings, HttpSettings):
        return settings
    section = settings.get("http") if isinstance(settings, Mapping) else getattr(settings, "http", None)
    if section is None:
        return HttpSettings()
    if isinstance(section, HttpSettings):
        return section
    if isinstance(section, BaseModel):
        section = section.model_dump()
    return HttpSettings.model_validate(dict(section))
