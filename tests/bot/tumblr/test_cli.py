"""`glyphbot tumblr submit` and `status` against the configured storage."""

from __future__ import annotations

from typer.testing import CliRunner

from bot.cli import app  # the package, so every command module is registered


def test_submit_records_once_and_status_shows_why(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLYPHBOT_TUMBLR__BLOG", "myblog")
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps table cells to the terminal width
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("hello\n\n=======\nHI\n=======\n")
    bad.write_text("x\n=======\nnever closed")
    runner = CliRunner()
    first = runner.invoke(app, ["tumblr", "submit", str(good), str(bad), "--state", "queue", "--tag", "art"])
    assert first.exit_code == 0, first.output
    assert "recorded as post 1" in first.output and "recorded as post 2" in first.output
    again = runner.invoke(app, ["tumblr", "submit", str(tmp_path)])  # a folder: every *.txt in it
    assert "good.txt: already submitted" in again.output and "bad.txt: already submitted" in again.output
    status = runner.invoke(app, ["tumblr", "status"], terminal_width=200)
    assert "pending" in status.output and "never closed" in status.output
    later = tmp_path / "later.txt"
    later.write_text("after the missing one")
    missing = runner.invoke(app, ["tumblr", "submit", str(tmp_path / "nope.txt"), str(later)])
    assert missing.exit_code == 1 and f"error: {tmp_path / 'nope.txt'}: no such file" in missing.output
    assert "later.txt: recorded as post 3" in missing.output  # one unreadable file does not stop the others
    wrong = runner.invoke(app, ["tumblr", "submit", str(good), "--state", "later"])
    assert wrong.exit_code == 1 and "target state" in wrong.output
    comma = runner.invoke(app, ["tumblr", "submit", str(good), "--tag", "red, green"])
    assert comma.exit_code == 1 and "comma" in comma.output
    for command in (["tumblr", "status", "--limit", "0"], ["tumblr", "read", "--limit", "0"]):
        refused = runner.invoke(app, command)
        assert refused.exit_code == 2 and "--limit" in refused.output


def test_read_prints_the_dashboard_with_transcripts(tmp_path, monkeypatch, fake_tumblr, tumblr_client) -> None:  # noqa: ANN001
    from tests.bot.tumblr.test_reading import sign_png

    creds = fake_tumblr.credentials
    for key, value in {"STORAGE__DATA_DIR": str(tmp_path / "data"), "TUMBLR__BLOG": fake_tumblr.blog,
                       "TUMBLR__API_HOST": fake_tumblr.host, "TUMBLR__CONSUMER_KEY": creds.consumer_key,
                       "TUMBLR__CONSUMER_SECRET": creds.consumer_secret, "TUMBLR__OAUTH_TOKEN": creds.token,
                       "TUMBLR__OAUTH_SECRET": creds.token_secret}.items():
        monkeypatch.setenv(f"GLYPHBOT_{key}", value)
    (tmp_path / "s.png").write_bytes(sign_png("EXIT"))
    tumblr_client.create_photo(fake_tumblr.blog, state="published", data=[str(tmp_path / "s.png")])
    result = CliRunner().invoke(app, ["tumblr", "read"])
    assert result.exit_code == 0, result.output
    assert "\n=======\nEXIT\n=======\n" in result.output and creds.consumer_secret not in result.output
