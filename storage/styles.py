"""Learned styles: a row per style and its embeddings as a safetensors file.

A style is learned one of two ways (its `method`, generation.types.STYLE_METHODS): textual inversion's
token vectors ("vectors", every style before LoRA) or LoRA adapters ("lora"). Either way the file is
opaque bytes here (generation reads and writes it); storage keeps it in `<data_dir>/styles/<name>.safetensors`
and the record of who learned it how and from what in the `styles` table. A deleted style keeps its
row (soft delete), so a job that asks for it later is told who deleted it and when, instead of "unknown
style". Re-learning a name: delete it first, or `add(..., replace=True)`; a deleted name may be learned
again without either (its row is reused, its old record replaced).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from generation.types import MAX_STYLE_EXAMPLES, MIN_STYLE_EXAMPLES, STYLE_METHODS
from storage.db import Database
from storage.errors import InvalidJob, InvalidStyle, StyleDeleted, StyleError, StyleExists, StyleNotFound
from storage.images import sha256_hex, write_temporary
from storage.models import StyleRow
from storage.moderation import write_audit
from storage.types import StyleRecord, utcnow
from storage.validation import check_style_name

# How many example pictures a style is learned from; `style learn` checks the same numbers.
MIN_EXAMPLES, MAX_EXAMPLES = MIN_STYLE_EXAMPLES, MAX_STYLE_EXAMPLES
MAX_STEPS = 1_000_000
SUFFIX = ".safetensors"
_HASH = re.compile(r"[0-9a-f]{64}")


class StyleStore:
    """Styles by name: `add`, `get`, `tokens`, `list`, `delete` (moderators; audited)."""

    def __init__(self, db: Database, root: str | os.PathLike[str], clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.root = Path(root)
        self.clock = clock

    def path(self, name: str) -> Path:
        """Where the embeddings of style `name` live; the name is checked first, so no path is built from anything else."""
        return self.root / f"{_name(name)}{SUFFIX}"

    def add(
        self,
        name: str,
        creator: str,
        example_hashes: Sequence[str],
        steps: int,
        loss: float,
        tokens: bytes,
        model_hash: str,
        *,
        replace: bool = False,
        method: str = "vectors",
    ) -> StyleRecord:
        """Keep a newly learned style: the file is written to a temporary name, the row inserted, and the
        file renamed into place inside that transaction, so a failure at any point leaves the style as it
        was (no row without a file, no file without a row). `method` says how it was learned (one of
        STYLE_METHODS), so a renderer knows what the file holds. Raises InvalidStyle, StyleExists (unless `replace`)."""
        name = _name(name)
        _check_record(name, creator, example_hashes, steps, loss, tokens, model_hash, method)
        target = self.path(name)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            temp = write_temporary(self.root, tokens)
        except OSError as error:
            raise StyleError(f"cannot write the embeddings of style {name!r} to {self.root}: {error.strerror}") from error
        published = False
        try:
            with self.db.write() as session:
                row = session.scalar(select(StyleRow).where(StyleRow.name == name).with_for_update())
                if row is not None and row.deleted_at is None and not replace:
                    raise StyleExists(
                        f"style {name!r} exists already (learned by {row.creator} on {_day(row.created_at)}); "
                        "delete it first (`glyphbot style delete`) or choose another name"
                    )
                if row is None:
                    row = StyleRow(name=name)
                    session.add(row)
                row.creator, row.created_at = creator, self.clock()
                row.example_hashes = json.dumps(list(example_hashes))
                row.steps, row.loss, row.model_hash = steps, float(loss), model_hash
                row.tokens_sha256, row.method = sha256_hex(tokens), method
                row.deleted_at, row.deleted_by = None, None
                session.flush()
                try:
                    os.replace(temp, target)
                except OSError as error:
                    raise StyleError(f"cannot write the embeddings of style {name!r} to {target}: {error.strerror}") from error
                published = True
                record = _record(row)
        except BaseException:
            # The rename happened but the commit did not: the file has no row; take it away again
            # (a replaced style's old file is gone then, and `tokens` says its file does not match).
            if published:
                with contextlib.suppress(OSError):
                    target.unlink()
            raise
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        return record

    def get(self, name: str, *, include_deleted: bool = False) -> StyleRecord:
        """The style's record; StyleNotFound if it was never learned, StyleDeleted (who, when) if it was deleted."""
        return find_style(self.db, name, include_deleted=include_deleted)

    def tokens(self, name: str) -> bytes:
        """The style's embeddings (safetensors bytes) for a renderer; StyleNotFound / StyleDeleted as `get`,
        StyleError when the file is missing or not the one its row records."""
        record = self.get(name)
        path = self.path(record.name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StyleError(f"the embeddings of style {record.name!r} are missing ({path}); learn the style again") from None
        except OSError as error:
            raise StyleError(f"cannot read the embeddings of style {record.name!r} ({path}): {error.strerror}") from error
        if sha256_hex(data) != record.tokens_sha256:
            raise StyleError(f"the embeddings file of style {record.name!r} ({path}) is not the one its record names; learn the style again")
        return data

    def list(self) -> list[StyleRecord]:
        """Styles that can be used (not deleted), sorted by name."""
        with self.db.read() as session:
            rows = session.scalars(select(StyleRow).where(StyleRow.deleted_at.is_(None)).order_by(StyleRow.name))
            return [_record(row) for row in rows]

    def delete(self, name: str, moderator: str, reason: str = "") -> StyleRecord:
        """Soft-delete a style and remove its file; the audit entry ("style.delete") commits with the row.

        Jobs already queued with the style fail when a worker takes them (the style was deleted, by whom,
        when). The file goes only after the commit, so a failed delete leaves a usable style."""
        if not moderator:
            raise ValueError("deleting a style needs the moderator's name for the audit log")
        now = self.clock()
        with self.db.write() as session:
            row = style_row(session, name, lock=True)
            row.deleted_at, row.deleted_by = now, moderator
            write_audit(session, now, moderator, "style.delete", f"style:{row.name}", reason=reason, creator=row.creator,
                        tokens_sha256=row.tokens_sha256)
            session.flush()
            record = _record(row)
        with contextlib.suppress(FileNotFoundError):
            self.path(record.name).unlink()
        return record


def find_style(db: Database, name: str, *, include_deleted: bool = False) -> StyleRecord:
    """`StyleStore.get` for callers that hold only the database (an adapter checking its configured style at start)."""
    with db.read() as session:
        return _record(style_row(session, name, include_deleted=include_deleted))


def style_row(session: Session, name: str, *, include_deleted: bool = False, lock: bool = False) -> StyleRow:
    """The row of style `name` in `session` (the job queue checks styles inside its submit transaction)."""
    name = _name(name)
    query = select(StyleRow).where(StyleRow.name == name)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise StyleNotFound(f"there is no style {name!r}; `glyphbot style list` shows the styles there are")
    if row.deleted_at is not None and not include_deleted:
        raise StyleDeleted(f"style {name!r} was deleted by {row.deleted_by} on {_day(row.deleted_at)}")
    return row


def _name(name: object) -> str:
    try:
        return check_style_name(name)
    except InvalidJob as error:
        raise InvalidStyle(str(error)) from None


def _day(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _check_record(name: str, creator: str, example_hashes: Sequence[str], steps: int, loss: float, tokens: bytes,
                  model_hash: str, method: str) -> None:
    if not isinstance(creator, str) or not creator or len(creator) > 200 or "\x00" in creator:
        raise InvalidStyle(f"style {name!r} needs its creator's name (1 to 200 characters)")
    if isinstance(example_hashes, str) or not MIN_EXAMPLES <= len(example_hashes) <= MAX_EXAMPLES:
        count = "a string" if isinstance(example_hashes, str) else f"{len(example_hashes)}"
        raise InvalidStyle(f"style {name!r} is learned from {MIN_EXAMPLES} to {MAX_EXAMPLES} example pictures, not {count}")
    bad = next((h for h in example_hashes if not isinstance(h, str) or not _HASH.fullmatch(h)), None)
    if bad is not None:
        raise InvalidStyle(f"style {name!r}: example hash {bad!r} is not a 64-digit lowercase hex SHA-256")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InvalidStyle(f"style {name!r}: steps must be a whole number from 1 to {MAX_STEPS}, not {steps!r}")
    if isinstance(loss, bool) or not isinstance(loss, int | float) or not math.isfinite(loss) or loss < 0:
        raise InvalidStyle(f"style {name!r}: loss must be a finite number of 0 or more, not {loss!r}")
    if not isinstance(model_hash, str) or not 1 <= len(model_hash) <= 64 or not model_hash.isprintable():
        raise InvalidStyle(f"style {name!r}: the model hash must be 1 to 64 printable characters")
    if method not in STYLE_METHODS:
        raise InvalidStyle(f"style {name!r}: the method must be one of {', '.join(map(repr, STYLE_METHODS))}, not {method!r}")
    _check_safetensors(name, tokens)


def _check_safetensors(name: str, data: object) -> None:
    """The framing of a safetensors file (8-byte little-endian header length, then a JSON object), so a
    blob that no renderer could load is refused here rather than failing every job that uses the style."""
    if not isinstance(data, bytes) or len(data) < 10:
        raise InvalidStyle(f"style {name!r}: the embeddings are empty or not bytes")
    (length,) = struct.unpack("<Q", data[:8])
    header = data[8:8 + length] if length <= len(data) - 8 else b""
    try:
        parsed = json.loads(header) if header else None
    except (UnicodeDecodeError, ValueError):
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidStyle(f"style {name!r}: the embeddings are not a safetensors file (no valid header)")


def _record(row: StyleRow) -> StyleRecord:
    return StyleRecord(
        id=row.id,
        name=row.name,
        creator=row.creator,
        created_at=row.created_at,
        example_hashes=tuple(json.loads(row.example_hashes or "[]")),
        steps=row.steps,
        loss=row.loss,
        model_hash=row.model_hash,
        tokens_sha256=row.tokens_sha256,
        deleted_at=row.deleted_at,
        deleted_by=row.deleted_by,
        method=row.method,
    )
