"""Tables of the HTTP side: API keys, moderator accounts and moderator sessions.

They live on storage's declarative `Base` (so one Alembic history migrates everything) but in this
module because only the HTTP side reads them. Secrets are never stored: API keys and session tokens
as SHA-256 (they are 256-bit random, so a fast hash is enough), passwords as argon2id.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, IdType, UTCDateTime


class ApiKeyRow(Base):
    """One API key of one client; several keys may share a client name and then see the same jobs."""

    __tablename__ = "http_api_keys"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(100))
    rate_per_minute: Mapped[float | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ModeratorRow(Base):
    __tablename__ = "http_moderators"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ModeratorSessionRow(Base):
    """A logged-in browser; the cookie holds the token, the row its hash and the form (CSRF) token."""

    __tablename__ = "http_sessions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    moderator_id: Mapped[int] = mapped_column(ForeignKey("http_moderators.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_http_sessions_expires", "expires_at"),)
