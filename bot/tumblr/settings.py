"""The `[tumblr]` settings of the autoresponder. Credentials are not here: they come from the environment."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

STATES = ("published", "queue", "draft")


@dataclass(frozen=True)
class TumblrSettings:
    """What the autoresponder does; every field has a default so an empty `[tumblr]` section works.

    `guidance_options`: one is drawn per post (seeded by the post, so a restart draws the same one)
    and used for every block of it, as the original bot did; with `tag_guidance` the post is tagged
    `guidance scale N` so readers can see it.
    `textless`: what to do with an empty or `[image]` block: "omit" drops it from the post, "hold"
    sends the post to drafts for a moderator.
    """

    blog: str = ""
    api_host: str = "https://api.tumblr.com"
    intake_tag: str = "glyphbot"
    default_state: str = "published"
    guidance_options: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)
    tag_guidance: bool = True
    textless: str = "omit"
    candidates: int = 4
    posts_per_day: int = 250
    uploads_per_day: int = 250
    queue_limit: int = 1000
    poll_interval_s: float = 60.0
    retry_backoff_s: float = 60.0
    retry_backoff_max_s: float = 3600.0
    queue_full_retry_s: float = 900.0

    def __post_init__(self) -> None:
        if self.default_state not in STATES:
            raise ValueError(f"tumblr.default_state must be one of {', '.join(STATES)}, not {self.default_state!r}")
        if self.textless not in ("omit", "hold"):
            raise ValueError(f"tumblr.textless must be 'omit' or 'hold', not {self.textless!r}")
        if not self.guidance_options or any(not 0 <= g <= 30 for g in self.guidance_options):
            raise ValueError("tumblr.guidance_options must be a non-empty list of numbers in 0..30")
        for name in ("posts_per_day", "uploads_per_day", "queue_limit", "candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"tumblr.{name} must be at least 1")

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> "TumblrSettings":
        """Build from a parsed `[tumblr]` TOML table, naming any key this version does not know."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"unknown [tumblr] settings: {', '.join(unknown)}")
        values = dict(section)
        if "guidance_options" in values:
            values["guidance_options"] = tuple(float(g) for g in values["guidance_options"])
        return cls(**values)
