"""Issue 22 for the pictures the Tumblr adapter reads in posts: a hostile picture reads as no text (the
post around it is still worth reading), never as a crash, and reading them all stays small in memory."""

from __future__ import annotations

import resource

from bot.tumblr.reading import tesseract_reader
from tests.hostile_pictures import hostile_pictures


def test_every_hostile_picture_in_a_post_reads_as_no_text() -> None:
    read = tesseract_reader()
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, data in hostile_pictures().items():
        assert read(data) == "", name
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - grown_kb) / 1024 < 300
