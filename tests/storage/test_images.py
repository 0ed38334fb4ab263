"""The content-addressed image store."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest

from storage.errors import ImageNotFound, ImageStoreError, ImageStoreFull
from storage.images import ImageStore


def test_put_is_content_addressed_and_idempotent(store: ImageStore) -> None:
    digest = store.put(b"pixels")
    assert digest == hashlib.sha256(b"pixels").hexdigest()
    assert store.put(b"pixels") == digest
    assert store.read(digest) == b"pixels"
    assert store.path(digest).relative_to(store.root).parts == (digest[:2], digest[2:4], digest)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "abc", "0" * 63 + "/", ""])
def test_paths_are_never_built_from_anything_but_a_hash(store: ImageStore, bad: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        store.path(bad)


def test_missing_image_is_a_clear_error(store: ImageStore) -> None:
    with pytest.raises(ImageNotFound, match="no image 0{64} in the store"):
        store.read("0" * 64)


@pytest.mark.parametrize(("code", "error"), [(errno.ENOSPC, ImageStoreFull), (errno.EACCES, ImageStoreError)])
def test_write_errors_leave_no_partial_file(store: ImageStore, monkeypatch: pytest.MonkeyPatch, code: int, error: type) -> None:
    def failing_fsync(_fd: int) -> None:
        raise OSError(code, "simulated")

    monkeypatch.setattr("storage.images.os.fsync", failing_fsync)
    with pytest.raises(error):
        store.put(b"never stored")
    assert [path for path in store.root.rglob("*") if path.is_file()] == []


def test_a_root_that_cannot_be_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ImageStoreError, match="cannot create image store at .*a-file/images: Not a directory"):
        ImageStore(tmp_path / "a-file" / "images")
