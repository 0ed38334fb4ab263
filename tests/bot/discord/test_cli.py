"""`glyphbot discord` refuses to start without a token, saying where the token comes from."""

from __future__ import annotations

from typer.testing import CliRunner

from bot.cli import app


def test_discord_command_without_a_token_names_the_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("GLYPHBOT_DISCORD__TOKEN", raising=False)
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["discord"])
    assert result.exit_code == 1
    assert "GLYPHBOT_DISCORD__TOKEN" in result.output
