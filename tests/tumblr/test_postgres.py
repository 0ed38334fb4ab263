"""The state machine, its compare-and-set claims and the reading cache on PostgreSQL.

The scenarios are the SQLite tests themselves, imported here so pytest runs them again with this
module's `database` fixture (a migrated PostgreSQL database, emptied before each test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import inspect, text

from storage.db import Database, open_database
from tests.tumblr.test_autoresponder import (  # noqa: F401  collected again on PostgreSQL
    test_draft_is_published_in_place_with_images_and_alt_text,
    test_local_post_is_created_once_in_the_queue,
)
from tests.tumblr.test_failures import (  # noqa: F401
    test_crash_while_publishing_resumes_without_doubling,
    test_local_daily_post_limit_makes_the_post_wait_for_the_next_day,
    test_two_bot_processes_publish_once,
)
from tests.tumblr.test_reading import test_same_picture_under_another_url_is_not_read_again  # noqa: F401

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(pg_url: str) -> Iterator[Database]:
    db = open_database(pg_url)
    tables = [name for name in inspect(db.engine).get_table_names() if name != "alembic_version"]
    with db.write() as session:
        session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    yield db
    db.dispose()
