"""Moderation calls and their audit entries."""

from __future__ import annotations

import datetime as dt

import pytest

from generation.types import RenderRequest
from storage.errors import BlockedTermFound
from storage.jobs import JobQueue
from storage.moderation import Moderation
from storage.types import JobSubmission
from tests.term_bypasses import BLOCKED, BYPASSES


def test_every_change_is_audited_once(db) -> None:  # noqa: ANN001
    moderation = Moderation(db)
    ban = moderation.ban("user", "discord", "42", moderator="alice", reason="spam")
    moderation.lift_ban(ban.id, moderator="bob")
    moderation.lift_ban(ban.id, moderator="bob")  # already lifted: no second entry
    moderation.block_term("  Nasty ", moderator="alice")
    moderation.block_term("nasty", moderator="alice")
    assert moderation.unblock_term("NASTY", moderator="bob")
    assert not moderation.unblock_term("nasty", moderator="bob")
    moderation.hide_image("a" * 64, moderator="carol", reason="gore")
    assert moderation.is_hidden("a" * 64)
    assert moderation.unhide_image("a" * 64, moderator="carol")
    log = moderation.audit_log()
    assert [(e.moderator, e.action) for e in log] == [
        ("carol", "unhide_image"), ("carol", "hide_image"), ("bob", "unblock_term"),
        ("alice", "block_term"), ("bob", "lift_ban"), ("alice", "ban"),
    ]
    assert log[-1].target == "user:discord:42" and log[-1].detail["reason"] == "spam"
    assert [e.action for e in moderation.audit_log(limit=2, before_id=log[1].id)] == ["unblock_term", "block_term"]
    assert [e.action for e in moderation.audit_log(moderator="bob")] == ["unblock_term", "lift_ban"]


def test_bans_expire_and_are_scoped_to_their_platform(db) -> None:  # noqa: ANN001
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    moderation = Moderation(db, clock=lambda: now)
    moderation.ban("user", "discord", "7", moderator="m", expires_at=now + dt.timedelta(hours=1))
    assert moderation.active_ban("discord", "7") is not None
    assert moderation.active_ban("tumblr", "7") is None
    later = Moderation(db, clock=lambda: now + dt.timedelta(hours=2))
    assert later.active_ban("discord", "7") is None
    assert later.bans() == [] and len(later.bans(active_only=False)) == 1


def test_moderator_name_and_valid_kinds_are_required(db) -> None:  # noqa: ANN001
    moderation = Moderation(db)
    with pytest.raises(ValueError, match="moderator's name"):
        moderation.block_term("x", moderator="")
    with pytest.raises(ValueError, match="ban kind"):
        moderation.ban("guild", "discord", "1", moderator="m")
    assert moderation.blocked_terms() == []


@pytest.mark.parametrize("prompt", BYPASSES.values(), ids=BYPASSES.keys())
def test_blocked_terms_match_however_they_are_written(db, prompt: str) -> None:  # noqa: ANN001
    moderation = Moderation(db)
    moderation.block_term(BLOCKED, moderator="alice")
    queue = JobQueue(db)
    for request in (RenderRequest(prompt=prompt), RenderRequest(prompt="fine", negative_prompt=prompt)):
        with pytest.raises(BlockedTermFound):
            queue.submit(JobSubmission(request, "cli", "u1", "u1", ""))
    assert moderation.find_blocked_term(prompt) == BLOCKED  # the term as the moderator wrote it


def test_terms_and_prompts_are_kept_as_written(db) -> None:  # noqa: ANN001
    moderation = Moderation(db)
    moderation.block_term("  Ｆｏｏ  Bar ", moderator="alice")
    moderation.block_term("foobar", moderator="bob")  # folds the same: already blocked
    assert [t.term for t in moderation.blocked_terms()] == ["Ｆｏｏ  Bar"]
    assert [e.target for e in moderation.audit_log()] == ["Ｆｏｏ  Bar"]
    prompt = "ｈｅｌｌｏ\u200b wörld\nagain"
    job = JobQueue(db).submit(JobSubmission(RenderRequest(prompt=prompt), "cli", "u1", "u1", ""))
    assert JobQueue(db).get(job.id).prompt == prompt  # only the matching is folded
    assert moderation.unblock_term("FOO-BAR", moderator="bob")
    assert moderation.blocked_terms() == []
    with pytest.raises(ValueError, match="at least one letter"):
        moderation.block_term(" -\u200b. ", moderator="alice")  # would fold to nothing and match every prompt
