"""Issue 22 for Discord attachments: every hostile picture is refused by the picture gate with one line
naming what is wrong, before a pixel is decoded, and reading them all costs the bot no memory to speak of."""

from __future__ import annotations

import resource

import pytest

from bot.discord.attachments import read_picture
from tests.hostile_pictures import hostile_pictures


def test_every_hostile_attachment_is_refused_in_one_line() -> None:
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, data in hostile_pictures().items():
        with pytest.raises(ValueError) as refused:
            read_picture(data, max_bytes=8 * 1024 * 1024)
        message = str(refused.value)
        assert message.startswith("the image") and "\n" not in message, (name, message)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - grown_kb) / 1024 < 300
