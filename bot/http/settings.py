"""Settings of the HTTP side, read from the `[http]` section of the glyphbot settings.

Why a model of its own: the HTTP code must run (and be tested) with nothing but these values, whatever
shape the global settings object takes, so `http_settings()` accepts that object, a plain mapping or
nothing at all and always returns a validated `HttpSettings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class HttpSettings(BaseModel):
    """Every knob of the JSON API and the moderator web app; the defaults are safe on a single host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on; loopback unless a proxy fronts the bot.")
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = Field("", description="URL users reach the server at; empty = http://host:port.")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Larger request bodies get 413.")
    rate_limit_per_minute: float = Field(60.0, gt=0, description="Default per-API-key request rate.")
    rate_limit_burst: int = Field(20, ge=1, description="Requests a key may make at once before the rate applies.")
    wait_max_seconds: float = Field(60.0, gt=0, le=600, description="Longest long-poll or event stream.")
    poll_interval_seconds: float = Field(0.5, gt=0, description="How often waiting requests re-read a job.")
    session_hours: float = Field(12.0, gt=0, description="Moderator session lifetime.")
    cookie_secure: bool = Field(True, description="Mark cookies Secure (browsers still send them to http://127.0.0.1).")
    login_attempts_per_minute: float = Field(5.0, gt=0, description="Failed logins allowed per name and per address.")
    history_page_size: int = Field(25, ge=1, le=200)


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
