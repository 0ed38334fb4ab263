"""Settings: defaults, user file, environment, secrets, and clear failures."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from config.settings import DEFAULT_FILE, REPO_ROOT, Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("GLYPHBOT_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "glyphbot.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_documented_file_and_issue_values() -> None:
    settings = load_settings()
    documented = tomllib.loads(DEFAULT_FILE.read_text())
    for section, values in documented.items():
        for key, value in values.items():
            actual = getattr(getattr(settings, section), key)
            assert (str(actual) if isinstance(actual, Path) else actual) == value, f"{section}.{key}"
    assert (settings.generation.guidance_scale, settings.generation.num_inference_steps, settings.generation.scheduler) == (3.0, 20, "dpmsolver")
    assert settings.generation.checkpoint_dir == REPO_ROOT / "generation" / "checkpoints"
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("data/glyphbot.db")


def test_every_setting_is_documented_in_the_default_file() -> None:
    text = DEFAULT_FILE.read_text()
    for section_name, field in Settings.model_fields.items():
        assert f"[{section_name}]" in text
        for key in field.annotation.model_fields:
            assert f"{key} =" in text or f"{key}_" in text or f"__{key.upper()}" in text, f"{section_name}.{key} is undocumented"


def test_user_file_then_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLYPHBOT_CONFIG", str(write(tmp_path, "[worker]\nbatch_size = 8\nlease_s = 300\n[limits]\nper_place = 5\n")))
    monkeypatch.setenv("GLYPHBOT_WORKER__BATCH_SIZE", "2")
    settings = load_settings()
    assert (settings.worker.batch_size, settings.worker.lease_s, settings.limits.per_place) == (2, 300, 5)
    assert settings.worker.heartbeat_s == 20.0  # untouched keys keep the default


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[worker]\nlease_s = -1\n", {}, "worker.lease_s: Input should be greater than 0"),
        ("[worker]\nheartbeat_s = 100\n", {}, "worker: heartbeat_s must be at most half of lease_s"),
        ("[generation]\ndevice = 'gpu'\n", {}, "generation.device: must be auto, cpu, cuda, cuda:N or mps"),
        ("[generation]\nscheduler = 'euler'\n", {}, "generation.scheduler"),
        ("[ocr]\nkeep_only_if_above = 1.5\n", {}, "ocr.keep_only_if_above"),
        ("[worker]\nbatchsize = 3\n", {}, "worker.batchsize: unknown setting (a typo?)"),
        ("[database]\nurl = 'mysql://x/y'\n", {}, "database.url: must start with sqlite:/// or postgresql+psycopg://"),
        ("", {"GLYPHBOT_LIMITS__PER_REQUESTER": "many"}, "limits.per_requester: Input should be a valid integer"),
        ("[discord]\ntoken = 'abc.def'\n", {}, "discord.token: secrets may not be written in"),
        ("[database]\nurl = 'postgresql+psycopg://u:hunter2@h/db'\n", {}, "contains a password"),
        ("[worker\n", {}, "not valid TOML"),
        ("", {"GLYPHBOT_DISCORD__GUILD_IDS": "1,2"}, "discord (GLYPHBOT_DISCORD__GUILD_IDS): not valid JSON; lists and tables"),
        ("", {"GLYPHBOT_WORKER": "fast"}, "worker (GLYPHBOT_WORKER): not valid JSON"),
        ("[limits]\nmax_prompt_chars = 100\n", {}, "discord.max_prompt_chars (380) must not exceed limits.max_prompt_chars (100)"),
    ],
)
def test_bad_settings_fail_naming_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, env: dict, message: str) -> None:
    monkeypatch.setenv("GLYPHBOT_CONFIG", str(write(tmp_path, toml)))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value) and "abc.def" not in str(caught.value)


def test_missing_user_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GLYPHBOT_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="GLYPHBOT_CONFIG: no file at"):
        load_settings()


def test_secrets_come_from_the_environment_and_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLYPHBOT_DISCORD__TOKEN", "very-secret-token")
    settings = load_settings()
    assert settings.discord.token.get_secret_value() == "very-secret-token"
    assert "very-secret-token" not in repr(settings) and "very-secret-token" not in str(settings.model_dump())


def test_password_file_must_live_outside_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("GLYPHBOT_DATABASE__URL", "postgresql+psycopg://glyphbot@db:5432/glyphbot")
    monkeypatch.setenv("GLYPHBOT_DATABASE__PASSWORD_FILE", str(secret))
    assert load_settings().database_url == "postgresql+psycopg://glyphbot:s3cret@db:5432/glyphbot"
    monkeypatch.setenv("GLYPHBOT_DATABASE__PASSWORD_FILE", str(REPO_ROOT / "pyproject.toml"))
    with pytest.raises(SettingsError, match="database.password_file: .* is inside the repository"):
        _ = load_settings().database_url


def test_the_http_side_reads_the_http_section(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.http.settings import HttpSettings as AdapterHttpSettings, http_settings

    assert http_settings(load_settings()) == AdapterHttpSettings()
    monkeypatch.setenv("GLYPHBOT_HTTP__RATE_LIMIT_BURST", "7")
    assert http_settings(load_settings()).rate_limit_burst == 7
