"""The same adapter on PostgreSQL, the multi-host setup: a result, a reroll after restart, a moderator ban."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from tests.bot.discord.conftest import Storage, open_test_storage
from tests.bot.discord.flows import deliver_one, followups, result_of

pytestmark = pytest.mark.postgres
SERVER = os.environ.get("GLYPHBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


@dataclass
class PostgresStorage(Storage):
    admin_url: str = ""
    name: str = ""

    def start_outage(self) -> Callable[[], None]:
        """A real PostgreSQL outage: the database refuses new connections and its open ones are ended."""
        import psycopg

        def allow(allowed: bool) -> None:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=3) as admin:
                admin.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
                if not allowed:
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,))

        allow(False)
        return lambda: allow(True)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    """Overrides the SQLite storage of conftest with a throwaway PostgreSQL database."""
    psycopg = pytest.importorskip("psycopg")
    name = f"glyphbot_discord_{uuid.uuid4().hex[:10]}"
    admin_url = SERVER.replace("+psycopg", "") + "/postgres"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {SERVER} ({error})")
    base = open_test_storage(f"{SERVER}/{name}", tmp_path)
    result = PostgresStorage(**{f.name: getattr(base, f.name) for f in fields(base)}, admin_url=admin_url, name=name)
    yield result
    result.stop_workers()
    result.queue.db.dispose()
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_imagine_reroll_after_restart_and_ban_on_postgres(fake, storage, start_bot):
    first = await start_bot()
    alice, mod = fake.add_user("alice"), fake.add_user("mod", moderator=True)
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice, "ON POSTGRES", seed=9)
    await first.close()
    await start_bot()
    click = await fake.click(alice, message_id, f"glyph:reroll:{job_id}")
    await fake.wait_until(lambda: result_of(fake, click))
    assert [j.prompt for j in storage.queue.list().jobs] == ["ON POSTGRES", "ON POSTGRES"]

    await fake.slash(mod, "mod", {"user": alice}, subcommand="ban")
    await fake.wait_until(lambda: storage.moderation.bans())
    refused = await fake.slash(alice, "imagine", {"prompt": "AGAIN"})
    followup = await fake.wait_until(lambda: fake.calls("POST", r"/webhooks/\d+/" + refused.token))
    assert "banned" in followup[0].json["content"]
    assert len(storage.queue.list().jobs) == 2


async def test_an_outage_on_postgres_delays_deliveries_and_buttons_still_answer(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    message_id, job_id = await deliver_one(fake, alice, "BEFORE")
    storage.stop_workers()
    request = await fake.slash(alice, "imagine", {"prompt": "DURING"})
    await fake.wait_until(lambda: len(storage.queue.list().jobs) == 2 and request.original_message_id)
    async with storage.outage():
        click = await fake.click(alice, message_id, f"glyph:cands:{job_id}")
        answer = await fake.wait_until(lambda: followups(fake, click))
        assert click.callbacks[0]["type"] == 5 and click.callbacks[0]["at"] < answer[0].at
        assert "database is unavailable right now" in answer[0].json["content"]
    storage.start_worker()
    message = await fake.wait_until(lambda: result_of(fake, request))
    assert "DURING" in message["content"]
