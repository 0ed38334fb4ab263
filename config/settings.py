"""The one settings object: `config/default.toml`, then a user TOML file, then GLYPHBOT_* variables.

Precedence, lowest first: the shipped defaults (every setting, commented), the file named by
GLYPHBOT_CONFIG, environment variables (`GLYPHBOT_WORKER__LEASE_S=90`: sections nest with `__`).
Secrets (tokens, passwords) are `SecretStr` fields: they may come only from the environment or from a
`*_file` setting that points outside the repository, never from a TOML file, and never print.
Any invalid value stops the program at start with the setting's dotted name and the reason.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as SourceParseError

from generation.request_options import OPTIONS
from generation.types import TEMPLATES

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = Path(__file__).with_name("default.toml")
CONFIG_ENV = "GLYPHBOT_CONFIG"


class SettingsError(ValueError):
    """A setting is missing, malformed or unsafe; the message names it."""


class Section(BaseModel):
    # Unknown keys are typos; failing on them beats silently ignoring a setting the user meant.
    model_config = ConfigDict(extra="forbid", validate_default=True)


class DatabaseSettings(Section):
    url: str | None = None
    password_file: Path | None = None
    busy_timeout_s: float = Field(10.0, gt=0)
    fail_fast: bool = False

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return value


class StorageSettings(Section):
    data_dir: Path = Path("data")
    images_dir: Path | None = None
    styles_dir: Path | None = None


class WorkerSettings(Section):
    lease_s: float = Field(120.0, gt=0)
    heartbeat_s: float = Field(20.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    batch_size: int = Field(4, ge=1, le=64)
    poll_interval_s: float = Field(0.5, gt=0)
    db_retry_max_s: float = Field(30.0, gt=0)
    renderer: str = "cascade"  # a name in bot.render.loading.RENDERERS

    @model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> WorkerSettings:
        if self.heartbeat_s * 2 > self.lease_s:
            raise ValueError("heartbeat_s must be at most half of lease_s, or a slow heartbeat loses the lease")
        return self


class LimitsSettings(Section):
    per_requester: int = Field(3, ge=1)
    per_place: int = Field(20, ge=1)
    max_prompt_chars: int = Field(380, ge=1, le=10000)


def _request_defaults() -> dict[str, Any]:
    """`[generation]`'s per-request defaults: one field for each option the request spine says it
    configures, with the spine's range or choices, so every adapter's requests start from them."""
    fields: dict[str, Any] = {}
    for declared in OPTIONS:
        if declared.setting:
            kind = Literal[declared.choices] if declared.choices else declared.type  # type: ignore[valid-type]
            fields[declared.name] = (kind, Field(declared.default, ge=declared.low, le=declared.high, description=declared.help))
    return fields


_RequestDefaults = create_model("_RequestDefaults", __base__=Section, **_request_defaults())


class GenerationSettings(_RequestDefaults):  # type: ignore[valid-type,misc]
    checkpoint_dir: Path = REPO_ROOT / "generation" / "checkpoints"
    device: str = "auto"
    max_candidates: int = Field(8, ge=1, le=64)
    max_prompt_tokens: int = Field(384, ge=8)
    # A tween's animated GIF may not be larger than this (Discord refuses uploads over 10 MB).
    max_gif_bytes: int = Field(8_000_000, ge=100_000, le=100_000_000)

    @field_validator("device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        base = value.split(":", 1)[0]
        if base not in ("auto", "cpu", "cuda", "mps") or (":" in value and not value.split(":", 1)[1].isdigit()):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return value

    @model_validator(mode="after")
    def _candidates_within_max(self) -> GenerationSettings:
        if self.candidates > self.max_candidates:
            raise ValueError("candidates must not exceed max_candidates")
        return self


class OcrSection(Section):
    keep_only_if_above: float = Field(0.8, ge=0, le=1)
    delete_under: float | None = Field(None, ge=0, le=1)
    min_line_confidence: float = Field(65, ge=0, le=100)
    min_block_confidence: float = Field(30, ge=0, le=100)
    corner_margin: float = Field(0.05, ge=0, lt=0.5)
    parallel_workers: int = Field(0, ge=0)


class DiscordSection(Section):
    token: SecretStr | None = None
    token_file: Path | None = None
    guild_ids: list[int] = []
    progress_edit_interval_s: float = Field(2.0, ge=0.5)
    max_upload_mib: float = Field(10.0, gt=0)
    # Added by the Discord adapter (bot/discord/); default.toml documents each.
    max_prompt_chars: int = Field(380, ge=1, le=10000)
    guidance_min: float = Field(0.0, ge=0)
    guidance_max: float = Field(10.0, gt=0, le=30)
    steps_min: int = Field(5, ge=1)
    steps_max: int = Field(150, ge=1, le=1000)
    count_max: int = Field(4, ge=1, le=4)
    count_default: int = Field(1, ge=1, le=4)
    candidates: int | None = Field(None, ge=1)  # None: [generation] candidates
    strength_default: float = Field(0.75, gt=0, le=1)
    variation_strength: float = Field(0.6, gt=0, le=1)
    max_init_image_mib: float = Field(8.0, gt=0, le=20)
    cooldown_s: float = Field(10.0, ge=0)
    sync_commands: bool = True
    # Added with styles, text into a photo and tweens; default.toml documents each.
    style_strength_default: float = Field(0.5, gt=0, le=1)
    tween_frames_default: int = Field(12, ge=2, le=48)
    tween_frames_max: int = Field(24, ge=2, le=48)


class TumblrSettings(Section):
    blog: str = ""
    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    oauth_token: SecretStr | None = None
    oauth_secret: SecretStr | None = None
    credentials_file: Path | None = None
    posts_per_day: int = Field(250, ge=1)
    # Added by the Tumblr adapter (bot/tumblr/); default.toml documents each.
    api_host: str = "https://api.tumblr.com"
    intake_tag: str = Field("glyphbot", min_length=1)
    default_state: Literal["published", "queue", "draft"] = "published"
    guidance_options: list[float] = Field([3.0], min_length=1)
    tag_guidance: bool = True
    textless: Literal["omit", "hold"] = "omit"
    candidates: int | None = Field(None, ge=1)  # None: [generation] candidates
    uploads_per_day: int = Field(250, ge=1)
    queue_limit: int = Field(1000, ge=1)
    poll_interval_s: float = Field(60.0, gt=0)
    retry_backoff_s: float = Field(60.0, gt=0)
    retry_backoff_max_s: float = Field(3600.0, gt=0)
    queue_full_retry_s: float = Field(900.0, gt=0)
    # A learned style for every image the autoresponder draws ("": none); checked to exist at start.
    style: str = Field("", pattern=r"^([a-z0-9_-]{1,32})?$")
    # The template every image the autoresponder draws is drawn as ("": rules pick from each text's shape).
    template: Literal[("",) + TEMPLATES] = ""  # type: ignore[valid-type]

    @field_validator("guidance_options")
    @classmethod
    def _guidance_in_range(cls, value: list[float]) -> list[float]:
        if any(not 0 <= g <= 30 for g in value):
            raise ValueError("every guidance option must be between 0 and 30")
        return value


class HttpSettings(Section):
    """The `[http]` section; bot/http reads exactly this model (default.toml documents each key)."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    rate_limit_per_minute: float = Field(60.0, gt=0)
    rate_limit_burst: int = Field(20, ge=1)
    wait_max_seconds: float = Field(60.0, gt=0, le=600)
    poll_interval_seconds: float = Field(0.5, gt=0)
    session_hours: float = Field(12.0, gt=0)
    cookie_secure: bool = True
    login_attempts_per_minute: float = Field(5.0, gt=0)
    login_name_attempts_per_hour: float = Field(30.0, gt=0)
    trusted_proxies: list[IPvAnyNetwork] = []
    history_page_size: int = Field(25, ge=1, le=200)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GLYPHBOT_", env_nested_delimiter="__", extra="forbid")

    database: DatabaseSettings = DatabaseSettings()
    storage: StorageSettings = StorageSettings()
    worker: WorkerSettings = WorkerSettings()
    limits: LimitsSettings = LimitsSettings()
    generation: GenerationSettings = GenerationSettings()
    ocr: OcrSection = OcrSection()
    discord: DiscordSection = DiscordSection()
    tumblr: TumblrSettings = TumblrSettings()
    http: HttpSettings = HttpSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = _read_config_files(settings_cls)
        return (init_settings, env_settings, InitSettingsSource(settings_cls, files))

    @model_validator(mode="after")
    def _adapter_limits_within_the_queue(self) -> Settings:
        # The queue refuses what its limit refuses; an adapter promising more would accept prompts
        # only for the job to be refused a moment later.
        if self.discord.max_prompt_chars > self.limits.max_prompt_chars:
            raise ValueError(
                f"discord.max_prompt_chars ({self.discord.max_prompt_chars}) must not exceed "
                f"limits.max_prompt_chars ({self.limits.max_prompt_chars})"
            )
        return self

    @property
    def database_url(self) -> str:
        """The database URL: the setting, or a SQLite file in the data folder; with the password file applied."""
        url = self.database.url or f"sqlite:///{(self.storage.data_dir / 'glyphbot.db').resolve()}"
        if self.database.password_file is not None:
            from sqlalchemy.engine import make_url

            password = read_secret_file(self.database.password_file, "database.password_file")
            url = make_url(url).set(password=password).render_as_string(hide_password=False)
        return url

    @property
    def images_dir(self) -> Path:
        return self.storage.images_dir or self.storage.data_dir / "images"

    @property
    def styles_dir(self) -> Path:
        """Where learned styles' embeddings live (`<name>.safetensors`); storage.styles."""
        return self.storage.styles_dir or self.storage.data_dir / "styles"


def load_settings(**overrides: Any) -> Settings:
    """Read every source and validate; raise SettingsError naming the first bad setting.

    `overrides` (section name -> dict) win over everything; tests and commands use them.
    """
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except SourceParseError as error:
        raise SettingsError(_describe_environment_error(error)) from None


def read_secret_file(path: Path, setting: str) -> str:
    """A secret from a file, refusing files inside the repository (where they could be committed)."""
    resolved = path.expanduser().resolve()
    if resolved.is_relative_to(REPO_ROOT):
        raise SettingsError(f"{setting}: {path} is inside the repository; keep secrets outside it")
    try:
        return resolved.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SettingsError(f"{setting}: cannot read {path}: {error.strerror}") from None


def _read_config_files(settings_cls: type[BaseSettings]) -> dict[str, Any]:
    merged = _load_toml(DEFAULT_FILE)
    user_file = os.environ.get(CONFIG_ENV)
    if user_file:
        path = Path(user_file).expanduser()
        if not path.is_file():
            raise SettingsError(f"{CONFIG_ENV}: no file at {path}")
        user = _load_toml(path)
        _refuse_secrets(settings_cls, user, path)
        merged = _deep_merge(merged, user)
    return merged


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: not valid TOML: {error}") from None


def _refuse_secrets(settings_cls: type[BaseSettings], data: dict[str, Any], path: Path) -> None:
    for section_name, section in data.items():
        field = settings_cls.model_fields.get(section_name)
        if field is None or not isinstance(section, dict):
            continue
        model = field.annotation
        for key in section:
            inner = getattr(model, "model_fields", {}).get(key)
            if inner is not None and "SecretStr" in str(inner.annotation):
                env = f"GLYPHBOT_{section_name.upper()}__{key.upper()}"
                raise SettingsError(f"{section_name}.{key}: secrets may not be written in {path}; set {env} instead")
        if section_name == "database" and isinstance(section.get("url"), str):
            from sqlalchemy.engine import make_url

            if make_url(section["url"]).password is not None:
                raise SettingsError(
                    f"database.url: the URL in {path} contains a password; use database.password_file or GLYPHBOT_DATABASE__URL"
                )


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _describe_environment_error(error: SourceParseError) -> str:
    """pydantic-settings names only the section whose variable did not parse; add the variables to look at."""
    match = re.search(r'field "(\w+)"', str(error))
    if match is None:
        return f"invalid settings: {error}"
    section = match.group(1)
    prefix = f"GLYPHBOT_{section.upper()}"
    model = Settings.model_fields[section].annotation if section in Settings.model_fields else None
    structured = {
        f"{prefix}__{key.upper()}" for key, field in getattr(model, "model_fields", {}).items()
        if get_origin(field.annotation) in (list, dict, tuple)
    }
    names = sorted(name for name in os.environ if name == prefix or name in structured)
    return (
        f"invalid settings: {section} ({', '.join(names)}): not valid JSON; lists and tables given in the "
        'environment are written as JSON, e.g. GLYPHBOT_DISCORD__GUILD_IDS="[1, 2]"'
    )


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        reason = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            reason = "unknown setting (a typo?)"
        problems.append(f"{name}: {reason}")
    return "invalid settings: " + "; ".join(problems)
