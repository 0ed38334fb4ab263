"""Ways to write a blocked term that a casefold substring match misses; every adapter's test refuses each."""

from __future__ import annotations

BLOCKED = "Forbidden"  # as a moderator types it; stored and shown so

BYPASSES = {
    "zero-width space": "a for\u200bbidden word",
    "fullwidth letters": "a ｆｏｒｂｉｄｄｅｎ word",
    "soft hyphen": "a for\u00adbidden word",
    "cyrillic o": "a f\u043erbidden word",
    "combining accent": "a fo\u0301rbidden word",
    "newline": "a forbid\nden word",
    "spaces and punctuation": "a f.o-r b_i dden word",
}
