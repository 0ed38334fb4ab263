"""One call that opens everything an adapter or worker needs from the configured settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage.async_api import AsyncJobs
from storage.db import Database, open_database
from storage.errors import DatabaseUnavailable
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.moderation import Moderation
from storage.styles import StyleStore
from storage.types import QueueLimits


@dataclass
class Storage:
    db: Database
    images: ImageStore
    jobs: JobQueue
    moderation: Moderation
    styles: StyleStore

    def async_jobs(self) -> AsyncJobs:
        return AsyncJobs(self.jobs)

    def close(self) -> None:
        self.db.dispose()


def open_storage(settings=None, *, upgrade: bool = True) -> Storage:  # noqa: ANN001  config.settings.Settings
    """Open the database and image store named by `settings` (default: `load_settings()`).

    With `upgrade`, the schema is migrated to the newest revision first, so the embedded default
    works on a fresh data folder without a separate `glyphbot db upgrade`.
    """
    if settings is None:
        from config.settings import load_settings

        settings = load_settings()
    if settings.database.url is None:
        _make_folder(settings.storage.data_dir, "storage.data_dir")
    _make_folder(settings.images_dir, "storage.images_dir" if settings.storage.images_dir else "storage.data_dir")
    db = open_database(settings.database_url, busy_timeout_s=settings.database.busy_timeout_s)
    if upgrade:
        try:
            db.upgrade()
        except DatabaseUnavailable:
            db.dispose()  # a caller that retries (storage.retry) opens a new one each time
            raise
    images = ImageStore(settings.images_dir)
    limits = QueueLimits.from_settings(settings)
    styles = StyleStore(db, settings.styles_dir)
    return Storage(db=db, images=images, jobs=JobQueue(db, images, limits, styles=styles), moderation=Moderation(db),
                   styles=styles)


def _make_folder(path: Path, setting: str) -> None:
    """Create a folder the settings name, or stop with that setting's name and the reason, not a traceback."""
    from config.settings import SettingsError

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SettingsError(f"{setting}: cannot create {path}: {error.strerror}") from None
