"""The style store: safetensors files plus a row per style, soft deletes with audit, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from storage.errors import InvalidStyle, StorageError, StyleDeleted, StyleError, StyleExists, StyleNotFound
from storage.moderation import Moderation
from storage.styles import StyleStore

from .fixtures import EXAMPLES, add_style, safetensors_blob


def test_a_style_is_kept_as_a_file_and_a_row(styles: StyleStore) -> None:
    tokens = safetensors_blob(8)
    record = add_style(styles, "red-sign_2", tokens=tokens)
    assert (record.name, record.creator, record.example_hashes, record.steps, record.loss, record.model_hash) == (
        "red-sign_2", "alice", EXAMPLES, 200, 0.125, "model-abc")
    assert styles.path("red-sign_2") == styles.root / "red-sign_2.safetensors"
    assert styles.path("red-sign_2").read_bytes() == tokens
    assert styles.tokens("red-sign_2") == tokens
    assert styles.get("red-sign_2") == record and not record.deleted
    assert list(styles.root.iterdir()) == [styles.path("red-sign_2")]  # no temporary file left behind


def test_list_is_sorted_and_leaves_deleted_styles_out(styles: StyleStore) -> None:
    for name in ("zebra", "apple", "mango"):
        add_style(styles, name)
    styles.delete("mango", "mia")
    assert [record.name for record in styles.list()] == ["apple", "zebra"]


@pytest.mark.parametrize("name", ["", "Red", "a" * 33, "red sign", "../etc", "red.sign", "rød", None])
def test_bad_names_are_refused_and_nothing_is_written(styles: StyleStore, name: object) -> None:
    with pytest.raises(InvalidStyle, match="1 to 32 characters of a-z, 0-9, _ and -"):
        add_style(styles, name)  # type: ignore[arg-type]
    assert styles.list() == []
    assert not styles.root.exists() or list(styles.root.iterdir()) == []


@pytest.mark.parametrize("change, message", [
    (dict(example_hashes=EXAMPLES[:2]), "3 to 20 example pictures, not 2"),
    (dict(example_hashes=EXAMPLES * 5), "3 to 20 example pictures, not 25"),
    (dict(example_hashes=("nothex",) * 3), "is not a 64-digit"),
    (dict(steps=0), "steps must be a whole number"),
    (dict(loss=float("nan")), "loss must be a finite number"),
    (dict(tokens=b""), "embeddings are empty"),
    (dict(tokens=b"\xff" * 64), "not a safetensors file"),
    (dict(creator=""), "creator"),
    (dict(model_hash=""), "model hash"),
    (dict(method="hypernetwork"), "the method must be one of 'vectors', 'lora', not 'hypernetwork'"),
    (dict(method=None), "the method must be one of 'vectors', 'lora', not None"),
])
def test_a_malformed_record_is_refused_and_nothing_is_written(styles: StyleStore, change: dict, message: str) -> None:
    arguments = dict(name="red", creator="alice", example_hashes=EXAMPLES, steps=10, loss=0.5, tokens=safetensors_blob(),
                     model_hash="m") | change
    with pytest.raises(InvalidStyle, match=message):
        styles.add(**arguments)
    with pytest.raises(StyleNotFound):
        styles.get("red")
    assert not styles.root.exists() or list(styles.root.iterdir()) == []


def test_the_method_is_kept_and_vectors_unless_told(styles: StyleStore) -> None:
    assert add_style(styles, "plain").method == "vectors"
    adapter = styles.add("adapter", "alice", EXAMPLES, 300, 0.5, safetensors_blob(), "model-abc", method="lora")
    assert adapter.method == "lora"
    assert styles.get("adapter") == adapter and styles.get("plain").method == "vectors"
    assert [(record.name, record.method) for record in styles.list()] == [("adapter", "lora"), ("plain", "vectors")]
    relearned = styles.add("adapter", "bob", EXAMPLES, 50, 0.5, safetensors_blob(), "model-abc", replace=True)
    assert relearned.method == styles.get("adapter").method == "vectors"  # a replaced style takes the new one's method


def test_a_taken_name_is_refused_unless_replace(styles: StyleStore) -> None:
    add_style(styles, "red", tokens=safetensors_blob(2))
    with pytest.raises(StyleExists, match="style 'red' exists already .*learned by alice.*delete it first"):
        add_style(styles, "red", tokens=safetensors_blob(3), creator="bob")
    assert styles.tokens("red") == safetensors_blob(2)
    replaced = styles.add("red", "bob", EXAMPLES, 5, 0.25, safetensors_blob(3), "m2", replace=True)
    assert (replaced.creator, replaced.steps) == ("bob", 5)
    assert styles.tokens("red") == safetensors_blob(3)
    assert len(list(styles.root.iterdir())) == 1


def test_delete_soft_deletes_removes_the_file_and_audits(styles: StyleStore, db) -> None:  # noqa: ANN001
    add_style(styles, "red")
    deleted = styles.delete("red", "mia", reason="copied a logo")
    assert deleted.deleted and deleted.deleted_by == "mia"
    assert not styles.path("red").exists()
    with pytest.raises(StyleDeleted, match=r"style 'red' was deleted by mia on \d{4}-\d\d-\d\d") as caught:
        styles.get("red")
    assert isinstance(caught.value, StyleNotFound) and isinstance(caught.value, StorageError)
    with pytest.raises(StyleDeleted, match="deleted by mia"):
        styles.tokens("red")
    assert styles.get("red", include_deleted=True).deleted_by == "mia"
    [entry] = Moderation(db).audit_log()
    assert (entry.moderator, entry.action, entry.target, entry.detail["reason"]) == ("mia", "style.delete", "style:red", "copied a logo")
    with pytest.raises(StyleDeleted):
        styles.delete("red", "mia")  # deleting twice says when it already was
    assert len(Moderation(db).audit_log()) == 1


def test_a_deleted_name_can_be_learned_again(styles: StyleStore) -> None:
    add_style(styles, "red")
    styles.delete("red", "mia")
    again = add_style(styles, "red", creator="bob", tokens=safetensors_blob(6))
    assert not again.deleted and again.creator == "bob"
    assert styles.tokens("red") == safetensors_blob(6)


def test_unknown_styles_and_missing_or_changed_files_say_so(styles: StyleStore) -> None:
    with pytest.raises(StyleNotFound, match="there is no style 'blue'"):
        styles.get("blue")
    with pytest.raises(StyleNotFound):
        styles.delete("blue", "mia")
    add_style(styles, "red")
    styles.path("red").write_bytes(safetensors_blob(9))
    with pytest.raises(StyleError, match="is not the one its record names"):
        styles.tokens("red")
    styles.path("red").unlink()
    with pytest.raises(StyleError, match="are missing"):
        styles.tokens("red")


def test_a_failed_transaction_leaves_neither_file_nor_row(styles: StyleStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def broken_replace(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StyleError, match="cannot write the embeddings of style 'red'.*No space left"):
        add_style(styles, "red")
    monkeypatch.undo()
    with pytest.raises(StyleNotFound):
        styles.get("red")
    assert list(styles.root.iterdir()) == []


def test_delete_needs_a_moderator(styles: StyleStore) -> None:
    add_style(styles, "red")
    with pytest.raises(ValueError, match="moderator"):
        styles.delete("red", "")
    assert styles.tokens("red")
