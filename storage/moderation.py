"""Moderation: bans, blocked terms, hidden images, and the append-only audit log of every action.

Every change a moderator makes writes its audit entry in the same transaction as the change, so the
log can never miss an action that happened or show one that did not.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import AuditRow, BanRow, BlockedTermRow, HiddenImageRow
from storage.textfold import fold
from storage.types import utcnow

BAN_KINDS = ("user", "place")


@dataclass(frozen=True)
class Ban:
    id: int
    kind: str
    source: str
    subject: str
    reason: str
    moderator: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    lifted_at: dt.datetime | None


@dataclass(frozen=True)
class BlockedTerm:
    term: str
    reason: str
    moderator: str
    created_at: dt.datetime


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    moderator: str
    action: str
    target: str
    detail: dict


class Moderation:
    """Moderators' actions; each mutating call takes the acting moderator's name for the audit log."""

    def __init__(self, db: Database, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    # --- bans ---------------------------------------------------------------------------------

    def ban(
        self,
        kind: str,
        source: str,
        subject: str,
        *,
        moderator: str,
        reason: str = "",
        expires_at: dt.datetime | None = None,
    ) -> Ban:
        """Ban a user (`kind="user"`, subject = platform user id) or a place (guild/channel/blog)."""
        if kind not in BAN_KINDS:
            raise ValueError(f"ban kind must be one of {BAN_KINDS}, not {kind!r}")
        if not subject:
            raise ValueError("a ban needs a subject (user id or place)")
        now = self.clock()
        with self.db.write() as session:
            row = BanRow(
                kind=kind, source=source, subject=subject, reason=reason, moderator=moderator, created_at=now, expires_at=expires_at
            )
            session.add(row)
            session.flush()
            write_audit(session, now, moderator, "ban", f"{kind}:{source}:{subject}", reason=reason, expires_at=expires_at, ban_id=row.id)
            return _ban(row)

    def lift_ban(self, ban_id: int, *, moderator: str, reason: str = "") -> Ban:
        now = self.clock()
        with self.db.write() as session:
            row = session.get(BanRow, ban_id)
            if row is None:
                raise LookupError(f"no ban {ban_id}")
            if row.lifted_at is None:
                row.lifted_at = now
                write_audit(session, now, moderator, "lift_ban", f"{row.kind}:{row.source}:{row.subject}", reason=reason, ban_id=ban_id)
            return _ban(row)

    def active_ban(self, source: str, requester_id: str, place: str = "") -> Ban | None:
        """The ban that stops this requester in this place, if any."""
        with self.db.read() as session:
            return active_ban(session, source, requester_id, place, self.clock())

    def bans(self, *, active_only: bool = True) -> list[Ban]:
        with self.db.read() as session:
            query = select(BanRow).order_by(BanRow.id.desc())
            if active_only:
                query = query.where(*_active_ban_conditions(self.clock()))
            return [_ban(row) for row in session.scalars(query)]

    # --- blocked terms ------------------------------------------------------------------------

    def block_term(self, term: str, *, moderator: str, reason: str = "") -> BlockedTerm:
        """Refuse prompts containing `term`, matched in folded form (storage.textfold: case, width,
        look-alike letters, invisible characters, spacing and punctuation do not matter). The term is
        kept as the moderator wrote it; blocking one that folds the same as a blocked term is harmless."""
        term = term.strip()
        if not fold(term):
            raise ValueError("a blocked term needs at least one letter, digit or symbol")
        now = self.clock()
        with self.db.write() as session:
            row = _term_row(session, term)
            if row is None:
                row = BlockedTermRow(term=term, reason=reason, moderator=moderator, created_at=now)
                session.add(row)
                write_audit(session, now, moderator, "block_term", term, reason=reason)
            return BlockedTerm(row.term, row.reason, row.moderator, row.created_at)

    def unblock_term(self, term: str, *, moderator: str, reason: str = "") -> bool:
        """Allow `term` (or the blocked term it folds the same as) again; returns whether it was blocked."""
        now = self.clock()
        with self.db.write() as session:
            row = _term_row(session, term)
            if row is None:
                return False
            session.delete(row)
            write_audit(session, now, moderator, "unblock_term", row.term, reason=reason)
            return True

    def blocked_terms(self) -> list[BlockedTerm]:
        with self.db.read() as session:
            rows = session.scalars(select(BlockedTermRow).order_by(BlockedTermRow.term))
            return [BlockedTerm(r.term, r.reason, r.moderator, r.created_at) for r in rows]

    def find_blocked_term(self, text: str) -> str | None:
        """The first blocked term (as the moderator wrote it) that `text` contains once both are folded, or None."""
        with self.db.read() as session:
            return find_blocked_term(session, text)

    # --- hidden images ------------------------------------------------------------------------

    def hide_image(self, sha256: str, *, moderator: str, reason: str = "") -> None:
        """Hide an image everywhere it appears (by content hash); hiding it twice is harmless."""
        now = self.clock()
        with self.db.write() as session:
            if session.get(HiddenImageRow, sha256) is None:
                session.add(HiddenImageRow(sha256=sha256, reason=reason, moderator=moderator, created_at=now))
                write_audit(session, now, moderator, "hide_image", sha256, reason=reason)

    def unhide_image(self, sha256: str, *, moderator: str, reason: str = "") -> bool:
        now = self.clock()
        with self.db.write() as session:
            removed = session.execute(delete(HiddenImageRow).where(HiddenImageRow.sha256 == sha256)).rowcount
            if removed:
                write_audit(session, now, moderator, "unhide_image", sha256, reason=reason)
            return bool(removed)

    def is_hidden(self, sha256: str) -> bool:
        with self.db.read() as session:
            return session.get(HiddenImageRow, sha256) is not None

    # --- audit log ----------------------------------------------------------------------------

    def record(self, moderator: str, action: str, target: str = "", **detail: object) -> None:
        """Log a moderator action that happens outside storage (a deleted Discord message, a rejected post)."""
        with self.db.write() as session:
            write_audit(session, self.clock(), moderator, action, target, **detail)

    def audit_log(self, *, limit: int = 50, before_id: int | None = None, moderator: str | None = None) -> list[AuditEntry]:
        """Newest first; pass the last entry's id as `before_id` for the next page."""
        with self.db.read() as session:
            query = select(AuditRow).order_by(AuditRow.id.desc()).limit(min(limit, 500))
            if before_id is not None:
                query = query.where(AuditRow.id < before_id)
            if moderator is not None:
                query = query.where(AuditRow.moderator == moderator)
            return [
                AuditEntry(r.id, r.at, r.moderator, r.action, r.target, json.loads(r.detail) if r.detail else {})
                for r in session.scalars(query)
            ]


# --- helpers shared with the job queue (which checks bans and terms inside its submit transaction) ---


def active_ban(session: Session, source: str, requester_id: str, place: str, now: dt.datetime) -> Ban | None:
    subjects = [(BanRow.kind == "user") & (BanRow.subject == requester_id)]
    if place:
        subjects.append((BanRow.kind == "place") & (BanRow.subject == place))
    row = session.scalar(
        select(BanRow).where(BanRow.source == source, or_(*subjects), *_active_ban_conditions(now)).limit(1)
    )
    return None if row is None else _ban(row)


def find_blocked_term(session: Session, text: str) -> str | None:
    folded = fold(text)
    for term in session.scalars(select(BlockedTermRow.term).order_by(BlockedTermRow.id)):
        if fold(term) in folded:
            return term
    return None


def _term_row(session: Session, term: str) -> BlockedTermRow | None:
    """The blocked term that folds the same as `term` (terms are few: folding each beats a stored copy
    that would go stale whenever the folding improves)."""
    folded = fold(term)
    return next((row for row in session.scalars(select(BlockedTermRow)) if fold(row.term) == folded), None)


def _active_ban_conditions(now: dt.datetime) -> tuple:
    return (BanRow.lifted_at.is_(None), or_(BanRow.expires_at.is_(None), BanRow.expires_at > now))


def write_audit(session: Session, at: dt.datetime, moderator: str, action: str, target: str, **detail: object) -> None:
    """Add an audit entry to `session`, so it commits (or rolls back) with the change it records."""
    if not moderator:
        raise ValueError("moderator actions need the moderator's name for the audit log")
    session.add(
        AuditRow(at=at, moderator=moderator, action=action, target=target, detail=json.dumps(detail, default=str, sort_keys=True))
    )


def _ban(row: BanRow) -> Ban:
    return Ban(row.id, row.kind, row.source, row.subject, row.reason, row.moderator, row.created_at, row.expires_at, row.lifted_at)
