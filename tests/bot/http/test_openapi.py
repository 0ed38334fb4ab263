"""The OpenAPI document: it describes exactly the routes the app serves, and fuzzing it finds no 5xx
and no answer that disagrees with it (schemathesis, against a live server on a SQLite database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bot.http import create_app
from bot.http.accounts import create_api_key
from bot.http.api import api
from bot.http.openapi import build_openapi
from bot.http.schemas import SERVER_CHECKED_FIELDS, TRANSCRIPT_FORMAT
from bot.http.settings import HttpSettings
from config.settings import TumblrSettings
from ocr.transcripts import TranscriptFormatError, format_transcript, image_blocks
from storage.db import open_database
from storage.images import ImageStore
from storage.types import QueueLimits

from .live import LiveServer

# Well-formed transcripts for the schema's custom string format (the fuzzer also sends malformed ones).
_line = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1, max_size=20).filter(
    lambda line: line.strip() and line.strip() != "=======")
schemathesis.openapi.format(TRANSCRIPT_FORMAT, st.builds(
    format_transcript, st.lists(_line, min_size=1, max_size=3).map("\n".join), st.none() | _line))
schema = schemathesis.openapi.from_dict(build_openapi(api.endpoints, title="glyphbot API", version="1"))
_KEY_PLACEHOLDER = "Bearer <fuzz-key>"  # cases are built at collection, before the key exists; see the test


@schema.auth()
class FuzzKey:
    """Authenticates through schemathesis, so that a case generated without `Authorization` (to check
    that the server refuses it) keeps it absent instead of having it put back by the test."""

    def get(self, _case: schemathesis.Case, _context: schemathesis.AuthContext) -> str:
        return _KEY_PLACEHOLDER

    def set(self, case: schemathesis.Case, value: str, _context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": value}


async def test_served_document_matches_the_routes(client: TestClient, keys: dict) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()  # public: clients discover the API with it
    assert document["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = set()
    for route in client.app.router.routes():
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter", "")
        if path.startswith("/api/v1/") and path != "/api/v1/openapi.json" and route.method != "HEAD":
            served.add((route.method, path))
    assert documented == served
    submit = document["paths"]["/api/v1/jobs"]["post"]
    options = document["components"]["schemas"]["JobOptions"]["properties"]
    assert options["candidates"]["maximum"] == 8 and options["scheduler"]["enum"] == ["ddpm", "ddim", "dpmsolver"]
    assert document["components"]["schemas"]["StyleView"]["properties"]["method"]["enum"] == ["vectors", "lora"]
    assert {"201", "200", "400", "401", "403", "409", "413", "415", "422", "429"} <= set(submit["responses"])
    assert submit["responses"]["429"]["headers"]["Retry-After"]
    post = document["paths"]["/api/v1/tumblr/posts"]["post"]
    assert post["x-required-scope"] == "submit" and {"200", "201", "409", "422", "503"} <= set(post["responses"])
    body = document["components"]["schemas"]["SubmitTumblrPost"]
    assert body["oneOf"] == [{"required": ["text"]}, {"required": ["content"]}] and body["required"] == ["idempotency_key"]
    assert document["paths"]["/api/v1/tumblr/posts/{post_id}"]["get"]["x-required-scope"] == "read"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("fuzz")
    db = open_database(f"sqlite:///{folder / 'glyphbot.db'}")
    db.upgrade()
    token, _ = create_api_key(db, "fuzzer", ["submit", "read"], rate_per_minute=1e6)
    config = HttpSettings(wait_max_seconds=0.3, rate_limit_burst=100_000, poll_interval_seconds=0.05)
    app = create_app(None, db, images=ImageStore(folder / "images"), http=config, limits=QueueLimits(per_requester=10**6),
                     tumblr=TumblrSettings(blog="fuzz-blog"))  # posts are only recorded: no Tumblr is called
    with LiveServer(app) as server:
        yield server.base_url, token
    db.dispose()


def _valid_only_against_the_server(body: object) -> bool:
    """Whether refusing this schema-valid body (422) can be right: a job naming a style, carrying a picture
    or a tween is valid only against what the server holds (the styles there are, the picture's pixels,
    two different ends); and schemathesis's boundary-value phase fills `transcript` without the custom
    format. Every other check (no 5xx, answers as documented) still applies to these bodies."""
    if not isinstance(body, dict):
        return False
    if any(name in body for name in SERVER_CHECKED_FIELDS) or body.get("kind") == "tween":
        return True
    transcript = body.get("transcript")
    if not isinstance(transcript, str):
        return False
    try:
        return len(image_blocks(transcript, strict=True)) != 1
    except TranscriptFormatError:
        return True


@schema.parametrize()
# Deterministic (derandomize, no example database): the same cases on every run and every machine, so
# CI never flakes; 25 examples per operation keep the whole fuzz to a few seconds.
@settings(max_examples=25, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_no_server_errors_and_answers_match_the_document(case: schemathesis.Case, live: tuple[str, str]) -> None:
    base_url, token = live
    if case.headers and case.headers.get("Authorization") == _KEY_PLACEHOLDER:
        case.headers["Authorization"] = f"Bearer {token}"
    excluded = [positive_data_acceptance] if _valid_only_against_the_server(case.body) else None
    response = case.call_and_validate(base_url=base_url, excluded_checks=excluded)
    if case.headers and "Authorization" in case.headers and response.status_code not in (404, 405):
        # The same case with a key holding non-UTF-8 bytes (requests sends str headers as Latin-1).
        case.headers["Authorization"] = "Bearer gbk_\xe9\xe8\xff"
        assert case.call(base_url=base_url).status_code == 401
