"""Fixtures for the Tumblr adapter tests: the loopback Tumblr server and a real pytumblr client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytumblr

from tests.tumblr.fake_tumblr import FakeTumblr


@pytest.fixture
def fake_tumblr() -> Iterator[FakeTumblr]:
    with FakeTumblr() as server:
        yield server


@pytest.fixture
def tumblr_client(fake_tumblr: FakeTumblr) -> pytumblr.TumblrRestClient:
    creds = fake_tumblr.credentials
    return pytumblr.TumblrRestClient(creds.consumer_key, creds.consumer_secret, creds.token, creds.token_secret,
                                     host=fake_tumblr.host)
