"""Opening the database: one URL picks SQLite (embedded default) or PostgreSQL (several hosts).

SQLite needs care to be a safe queue between processes: WAL so readers never block the writer, a
busy timeout so writers wait for each other instead of failing, and `BEGIN IMMEDIATE` for every
write transaction so two writers never both read a row as free and then both take it (a deferred
transaction that reads first and writes later fails or races when another writer got in between).

A SQLite file can also be deleted or replaced under a running process, which goes on working in the
unlinked file while everyone else sees another one. So a Database notes which file it opened
(device and inode) and checks, with one stat call before each transaction, that the path still names it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import DatabaseFileChanged, DatabaseUnavailable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest revision of each migration branch (storage/migrations/versions); a test keeps it equal to
# Alembic's own reading of the scripts, so a new migration must update it.
SCHEMA_HEADS = frozenset({"0800_styles_method"})


def _sqlite_engine(url: str, busy_timeout_s: float, immediate: bool, echo: bool) -> Engine:
    """An engine on a SQLite file whose transactions begin with BEGIN (reads) or BEGIN IMMEDIATE (writes)."""
    engine = create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})
    begin_sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001  driver object
        # Hand transaction control to SQLAlchemy's "begin" event below instead of the driver's guesswork.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # noqa: ANN001
        connection.exec_driver_sql(begin_sql)

    return engine


class Database:
    """An engine plus sessions for reads and for writes; the only way storage/ talks to the database."""

    def __init__(self, url: str, *, busy_timeout_s: float = 10.0, echo: bool = False) -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            database = parsed.database
            if not database or database == ":memory:":
                raise ValueError("an in-memory SQLite database cannot be shared by a worker and adapters; give a file path")
            path = Path(os.path.abspath(Path(database).expanduser()))
            path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(url, busy_timeout_s, immediate=False, echo=echo)
            self._write_engine = _sqlite_engine(url, busy_timeout_s, immediate=True, echo=echo)
            self._file = _SqliteFile(path, self._write_engine)
        elif self.dialect == "postgresql":
            connect_args = {"connect_timeout": max(1, int(busy_timeout_s))}
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)
            self._write_engine = self.engine
            self._file = None
        else:
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite:///PATH or postgresql+psycopg://...")
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; nothing is committed."""
        with translate_errors(), self._checked(), self._read_sessions() as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work commits as one transaction when the block ends, or rolls back on error."""
        with translate_errors(), self._checked(), self._write_sessions.begin() as session:
            yield session

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query succeeds."""
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def upgrade(self, revision: str = "heads") -> None:
        """Migrate the schema up to `revision` (Alembic); "heads" includes adapters' own migration branches.

        Every command that opens storage upgrades first. A schema already at SCHEMA_HEADS is seen with one
        query, without importing Alembic and reading its scripts (a third of a second, on every `jobs list`)."""
        if revision == "heads" and self._stored_revisions() == SCHEMA_HEADS:
            return
        from alembic import command

        with translate_errors(), self._checked():
            command.upgrade(self._alembic_config(), revision)

    def _stored_revisions(self) -> frozenset[str] | None:
        """The alembic_version table's revisions, or None when it has none yet (a new database). A database
        that cannot be reached is DatabaseUnavailable here, at once, as Alembic's own connection would be:
        swallowing it would make every caller wait out a second connection attempt."""
        with translate_errors(), self._checked(), self.engine.connect() as connection:
            try:
                return frozenset(row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version")))
            except SQLAlchemyError:
                return None

    def downgrade(self, revision: str) -> None:
        """Migrate the schema down to `revision` ("base" drops every table)."""
        from alembic import command

        with translate_errors(), self._checked():
            command.downgrade(self._alembic_config(), revision)

    create_all = upgrade

    def current_revisions(self) -> set[str]:
        """The revisions the database is at (one per migration branch; empty before any migration)."""
        from alembic.runtime.migration import MigrationContext

        with translate_errors(), self._checked(), self.engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())

    def head_revisions(self) -> set[str]:
        """The newest revisions this code ships; equal to current_revisions() when the schema is up to date."""
        from alembic.script import ScriptDirectory

        return set(ScriptDirectory.from_config(self._alembic_config()).get_heads())

    def check_file(self) -> None:
        """Raise DatabaseFileChanged when the SQLite file is not the one opened (nothing to check on PostgreSQL).

        Every transaction does this; a process that may go long without one (`serve --no-worker`) calls it
        on a timer too, or it would notice the loss only when someone next asks it for something."""
        if self._file is not None:
            self._file.check()

    @contextlib.contextmanager
    def _checked(self) -> Iterator[None]:
        """Raise DatabaseFileChanged before any connection is used when the SQLite file is not the one opened."""
        self.check_file()
        yield

    def dispose(self) -> None:
        self.engine.dispose()
        self._write_engine.dispose()

    def _alembic_config(self):  # noqa: ANN202  alembic.config.Config, imported lazily
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        # The engine travels in attributes, not as a URL string: passwords stay out of Alembic's config.
        config.attributes["engine"] = self._write_engine
        return config


class _SqliteFile:
    """The identity (st_dev, st_ino) of the file a SQLite Database opened, and the check that its path still names it."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        # Connect once now, so that a fresh path gets its file (SQLite creates it) and an identity to
        # hold on to from the start rather than from whichever transaction happens to come first.
        with translate_errors(), engine.connect():
            pass
        self.identity = self._stat()

    def check(self) -> None:
        """Raise DatabaseFileChanged if the file was deleted or replaced since it was opened."""
        identity = self._stat()
        if identity is None:
            raise DatabaseFileChanged(
                f"SQLite database {self.path} was deleted while in use; stopping (restore it, or restart to begin an empty one)"
            )
        if identity != self.identity:
            raise DatabaseFileChanged(
                f"SQLite database {self.path} was replaced while in use; stopping (restart to use the new file)"
            )

    def _stat(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DatabaseUnavailable(f"database unavailable: cannot look at {self.path}: {error.strerror}") from error
        return status.st_dev, status.st_ino


def open_database(url: str, *, busy_timeout_s: float = 10.0, echo: bool = False) -> Database:
    """Open (without migrating) the database at `url`: `sqlite:///path/to/file.db` or `postgresql+psycopg://...`.

    A SQLite file is created here if missing (DatabaseUnavailable if it cannot be), so that its identity is known
    from the start; PostgreSQL is first reached by the first transaction."""
    return Database(url, busy_timeout_s=busy_timeout_s, echo=echo)


def describe_url(url: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver errors that mean "could not reach or lock the database" into DatabaseUnavailable."""
    try:
        yield
    except OperationalError as error:
        raise DatabaseUnavailable(f"database unavailable: {_first_line(error)}") from error
    except DBAPIError as error:
        if error.connection_invalidated:
            raise DatabaseUnavailable(f"database connection lost: {_first_line(error)}") from error
        raise


def _first_line(error: DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig else str(error)

