"""The login limiter behind a trusted reverse proxy: per address and name, plus a slower per-name limit that
never refuses the right password from an address that has not been guessing."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from bot.http.accounts import add_moderator
from bot.http.login_limits import client_address
from bot.http.settings import HttpSettings
from storage.db import Database
from tests.bot.http.conftest import PASSWORD
from tests.bot.http.test_security import login_attempt


@pytest.fixture
def http_config() -> HttpSettings:
    # The test client connects from 127.0.0.1: make it the trusted reverse proxy.
    return HttpSettings(cookie_secure=False, rate_limit_burst=1000, rate_limit_per_minute=60000, login_attempts_per_minute=5,
                        login_name_attempts_per_hour=10, trusted_proxies=["127.0.0.0/8"])


async def test_behind_a_proxy_a_guesser_does_not_lock_the_moderator_out(client: TestClient, db: Database) -> None:
    add_moderator(db, "una", PASSWORD)
    add_moderator(db, "vic", PASSWORD)
    guesses = [await login_attempt(client, "una", f"guess {i}", address="198.51.100.1") for i in range(6)]
    assert guesses == [401] * 5 + [429]  # per address and name
    assert await login_attempt(client, "una", PASSWORD, address="198.51.100.1") == 429
    assert await login_attempt(client, "una", PASSWORD, address="192.0.2.50") == 303  # the moderator, elsewhere
    assert await login_attempt(client, "vic", PASSWORD, address="198.51.100.1") == 303  # other names: their own buckets
    # The slower per-name limit: ten wrong passwords an hour from all addresses together.
    spread = [await login_attempt(client, "una", f"spread {i}", address=f"198.51.100.{10 + i}") for i in range(6)]
    assert spread == [401] * 5 + [429]
    assert await login_attempt(client, "una", "spread again", address="198.51.100.10") == 429  # a guesser's address
    assert await login_attempt(client, "una", "fresh guess", address="198.51.100.99") == 429  # a new one, wrong
    assert await login_attempt(client, "una", PASSWORD, address="192.0.2.51") == 303  # a new one, right


@pytest.mark.parametrize("forwarded, expected", [
    ("198.51.100.1", "198.51.100.1"), ("198.51.100.1, 127.0.0.5", "198.51.100.1"),  # nearest untrusted hop
    ("203.0.113.1, 198.51.100.1", "198.51.100.1"),  # what the client wrote first is not believed
    ("not an address", "127.0.0.1"), ("\udce9\udcff", "127.0.0.1"), ("", "127.0.0.1"), (None, "127.0.0.1"),
])
def test_client_address_from_a_trusted_proxy(forwarded: str | None, expected: str) -> None:
    import ipaddress

    assert client_address("127.0.0.1", forwarded, [ipaddress.ip_network("127.0.0.0/8")]) == expected
    assert client_address("192.0.2.1", forwarded, [ipaddress.ip_network("127.0.0.0/8")]) == "192.0.2.1"  # not a proxy
