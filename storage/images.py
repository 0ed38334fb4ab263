"""Content-addressed image files on disk: a file's name is the SHA-256 of its bytes.

Content addressing makes writes idempotent (a retried job writes the same files again harmlessly)
and makes paths safe: a path is only ever built from a 64-digit hex hash that this module checks,
never from a prompt, a user name or anything else a user typed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from storage.errors import ImageNotFound, ImageStoreError, ImageStoreFull

_HASH = re.compile(r"[0-9a-f]{64}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_temporary(folder: Path, data: bytes) -> Path:
    """`data` in a new hidden file in `folder`, flushed to disk; rename it into place (`os.replace`) to publish it.

    A reader never sees a half-written file under its real name, and a failure leaves no temporary file behind."""
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    return Path(temp_name)


def write_atomically(target: Path, data: bytes) -> None:
    """Write `target` as a whole or not at all (temporary file in the same folder, then a rename)."""
    temp = write_temporary(target.parent, data)
    try:
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


class ImageStore:
    """Files under `root/ab/cd/<hash>`; two levels of fan-out keep directories small at millions of images."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ImageStoreError(f"cannot create image store at {self.root}: {error.strerror}") from error

    def put(self, data: bytes) -> str:
        """Store `data` and return its hash. Atomic: a reader never sees a half-written file."""
        digest = sha256_hex(data)
        target = self.path(digest)
        if target.exists():
            return digest
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, data)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ImageStoreFull(f"image store at {self.root} is out of disk space") from error
            raise ImageStoreError(f"cannot write to image store at {self.root}: {error.strerror}") from error
        return digest

    def read(self, digest: str) -> bytes:
        with self.open(digest) as handle:
            return handle.read()

    def open(self, digest: str) -> BinaryIO:
        """Open the file for reading; raises ImageNotFound when the store lacks it."""
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError as error:
            raise ImageNotFound(f"no image {digest} in the store") from error

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def path(self, digest: str) -> Path:
        """Where the file with this hash lives (whether or not it exists)."""
        if not isinstance(digest, str) or not _HASH.fullmatch(digest):
            raise ValueError("an image hash is 64 lowercase hex digits")
        return self.root / digest[:2] / digest[2:4] / digest

