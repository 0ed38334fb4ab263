"""API keys, moderator accounts and moderator sessions: creation, lookup and revocation.

Blocking code (SQLAlchemy sessions, argon2 hashing) on purpose: the CLI calls it directly and the web
handlers call it through `asyncio.to_thread`, so the event loop never waits on a hash or a query.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from bot.http.endpoints import ApiClient
from bot.http.models import ApiKeyRow, ModeratorRow, ModeratorSessionRow
from storage.db import Database
from storage.types import utcnow

SCOPES = ("submit", "read", "moderate")
KEY_PREFIX = "gbk_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")
_hasher = PasswordHasher()
# Verified against when the name is unknown, so a login takes as long whether or not the name exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed_token(token: str, max_chars: int = 100) -> bool:
    """Whether `token` could be one we issued (printable ASCII, not too long). Headers and cookies reach
    us decoded with surrogate escapes, so a non-UTF-8 byte must be refused here, before it is hashed."""
    return 0 < len(token) <= max_chars and token.isascii() and token.isprintable()


def check_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{kind} name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def parse_scopes(text: str | Iterable[str]) -> frozenset[str]:
    """Scopes from "submit,read" (or a list); refuses unknown and empty ones."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    items = [s for s in items if s]
    unknown = sorted(set(items) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    if not items:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    return frozenset(items)


# --- API keys ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKeyInfo:
    id: int
    client: str
    key_prefix: str
    scopes: frozenset[str]
    rate_per_minute: float | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def _key_info(row: ApiKeyRow) -> ApiKeyInfo:
    return ApiKeyInfo(row.id, row.client, row.key_prefix, frozenset(row.scopes.split(",")), row.rate_per_minute,
                      row.created_at, row.revoked_at)


def create_api_key(db: Database, client: str, scopes: Iterable[str], *, rate_per_minute: float | None = None) -> tuple[str, ApiKeyInfo]:
    """A new key for `client`; returns the secret token (shown once, never stored) and the key's record."""
    check_name("client", client)
    scope_set = parse_scopes(scopes)
    if rate_per_minute is not None and not rate_per_minute > 0:
        raise ValueError("the rate limit must be a positive number of requests per minute")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(client=client, key_hash=token_hash(token), key_prefix=token[:12], scopes=",".join(sorted(scope_set)),
                    rate_per_minute=rate_per_minute, created_at=utcnow())
    with db.write() as session:
        session.add(row)
        session.flush()
        return token, _key_info(row)


def list_api_keys(db: Database) -> list[ApiKeyInfo]:
    with db.read() as session:
        return [_key_info(row) for row in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]


def revoke_api_key(db: Database, key_id: int) -> bool:
    """Revoke a key; False when no active key has this id."""
    with db.write() as session:
        row = session.get(ApiKeyRow, key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        return True


def authenticate_key(db: Database, token: str) -> ApiClient | None:
    """The client of an active key, or None for an unknown or revoked one."""
    if not token.startswith(KEY_PREFIX) or not well_formed_token(token):
        return None
    with db.read() as session:
        row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == token_hash(token))).first()
        if row is None or row.revoked_at is not None:
            return None
        return ApiClient(row.id, row.client, frozenset(row.scopes.split(",")), row.rate_per_minute)


# --- moderators and sessions -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeratorInfo:
    name: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None


def _password_hash(password: str) -> str:
    if len(password) < 10:
        raise ValueError("the password must have at least 10 characters")
    if "\n" in password or "\r" in password:
        raise ValueError("the password may not contain a line break")
    return _hasher.hash(password)


def add_moderator(db: Database, name: str, password: str) -> None:
    """A new account; refuses a name that exists (so a typo cannot silently reset someone's password)."""
    check_name("moderator", name)
    hashed = _password_hash(password)
    with db.write() as session:
        if session.scalars(select(ModeratorRow.id).where(ModeratorRow.name == name)).first() is not None:
            raise ValueError(f"moderator {name!r} exists; use `glyphbot moderator passwd {name}` to change the password")
        session.add(ModeratorRow(name=name, password_hash=hashed, created_at=utcnow()))


def set_moderator_password(db: Database, name: str, password: str) -> bool:
    """A new password, which also re-enables a disabled account; False when there is no such account.
    The account's sessions end, so a leaked session cookie dies with the old password."""
    hashed = _password_hash(password)
    with db.write() as session:
        row = session.scalars(select(ModeratorRow).where(ModeratorRow.name == name)).first()
        if row is None:
            return False
        row.password_hash = hashed
        row.disabled_at = None
        session.execute(delete(ModeratorSessionRow).where(ModeratorSessionRow.moderator_id == row.id))
        return True


def list_moderators(db: Database) -> list[ModeratorInfo]:
    with db.read() as session:
        rows = session.scalars(select(ModeratorRow).order_by(ModeratorRow.name))
        return [ModeratorInfo(row.name, row.created_at, row.disabled_at) for row in rows]


def disable_moderator(db: Database, name: str) -> bool:
    """Disable an account and end its sessions; False when there is no such active account."""
    with db.write() as session:
        row = session.scalars(select(ModeratorRow).where(ModeratorRow.name == name)).first()
        if row is None or row.disabled_at is not None:
            return False
        row.disabled_at = utcnow()
        session.execute(delete(ModeratorSessionRow).where(ModeratorSessionRow.moderator_id == row.id))
        return True


def verify_login(db: Database, name: str, password: str) -> int | None:
    """The moderator's id when `password` is theirs, else None; as slow for unknown names as for known ones."""
    with db.read() as session:
        row = session.scalars(select(ModeratorRow).where(ModeratorRow.name == name)).first()
        stored = row.password_hash if row is not None and row.disabled_at is None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or stored is _DUMMY_HASH:
        return None
    if _hasher.check_needs_rehash(stored):
        with db.write() as session:
            fresh = session.get(ModeratorRow, row.id)
            if fresh is not None:
                fresh.password_hash = _hasher.hash(password)
    return row.id


@dataclass(frozen=True)
class ModeratorSession:
    moderator: str
    csrf_token: str


def create_session(db: Database, moderator_id: int, lifetime: dt.timedelta) -> str:
    """A new session for the moderator; returns the cookie token. Expired sessions are swept here."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.write() as session:
        session.execute(delete(ModeratorSessionRow).where(ModeratorSessionRow.expires_at < now))
        session.add(ModeratorSessionRow(token_hash=token_hash(token), csrf_token=secrets.token_urlsafe(32),
                                        moderator_id=moderator_id, created_at=now, expires_at=now + lifetime))
    return token


def session_for(db: Database, token: str) -> ModeratorSession | None:
    """The live session of this cookie token, or None (unknown, expired, or its moderator disabled)."""
    if not well_formed_token(token):
        return None
    with db.read() as session:
        found = session.execute(
            select(ModeratorRow.name, ModeratorSessionRow.csrf_token)
            .join(ModeratorRow, ModeratorRow.id == ModeratorSessionRow.moderator_id)
            .where(ModeratorSessionRow.token_hash == token_hash(token),
                   ModeratorSessionRow.expires_at > utcnow(),
                   ModeratorRow.disabled_at.is_(None))
        ).first()
    return None if found is None else ModeratorSession(found[0], found[1])


def end_session(db: Database, token: str) -> None:
    with db.write() as session:
        session.execute(delete(ModeratorSessionRow).where(ModeratorSessionRow.token_hash == token_hash(token)))
