"""Hostile bytes over a real socket: undecodable headers, cookies, queries and forms, and JSON nested deep
enough to exhaust the parser's recursion. None may make the server answer 5xx; the cases the issue names
get the specific answer (401, no session, 400 naming the depth limit)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.http import create_app
from bot.http.accounts import add_moderator, create_api_key
from bot.http.endpoints import MAX_JSON_DEPTH
from bot.http.settings import HttpSettings
from storage.db import open_database
from storage.images import ImageStore
from storage.types import QueueLimits
from tests.bot.http.conftest import PASSWORD

from .live import LiveServer


@dataclass(frozen=True)
class Live:
    host: str
    port: int
    token: str
    cookie: str
    csrf: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("hostile")
    db = open_database(f"sqlite:///{folder / 'glyphbot.db'}")
    db.upgrade()
    token, _ = create_api_key(db, "hostile", ["submit", "read", "moderate"], rate_per_minute=1e6)
    add_moderator(db, "mia", PASSWORD)
    config = HttpSettings(cookie_secure=False, rate_limit_burst=100_000, login_attempts_per_minute=1e6)
    app = create_app(None, db, images=ImageStore(folder / "images"), http=config, limits=QueueLimits(per_requester=10**6))
    with LiveServer(app) as server:
        browser = requests.Session()
        page = browser.get(server.base_url + "/mod/login").text
        login = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
        browser.post(server.base_url + "/mod/login", data={"login_token": login, "name": "mia", "password": PASSWORD})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(server.base_url + "/mod/history").text).group(1)
        host, port = server.base_url.removeprefix("http://").split(":")
        yield Live(host, int(port), token, browser.cookies["glyphbot_session"], csrf)
    db.dispose()


def send(live: Live, method: str, path: bytes, headers: dict[bytes, bytes] | None = None, body: bytes = b"") -> tuple[int, bytes]:
    """One raw HTTP/1.1 request with exactly these bytes; returns the status and the body."""
    headers = {b"Host": f"{live.host}:{live.port}".encode(), **(headers or {})}
    lines = [method.encode() + b" " + path + b" HTTP/1.1", b"Connection: close", b"Content-Length: " + str(len(body)).encode()]
    lines += [name + b": " + value for name, value in headers.items()]
    with socket.create_connection((live.host, live.port), timeout=10) as connection:
        connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    head, _, content = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), content


LATIN1 = b"\xe9\xe8\xff\xfe"


def test_undecodable_api_key_is_401(live: Live) -> None:
    for value in (b"Bearer gbk_" + LATIN1, b"Bearer " + LATIN1, b"\xff\xfe " + LATIN1):
        status, body = send(live, "GET", b"/api/v1/jobs", {b"Authorization": value})
        assert status == 401, (value, body)
        assert b"unauthenticated" in body


def test_undecodable_session_cookie_is_no_session(live: Live) -> None:
    for path in (b"/mod/", b"/mod/history", b"/mod/audit", b"/mod/moderation"):
        status, body = send(live, "GET", path, {b"Cookie": b"glyphbot_session=" + LATIN1})
        assert status == 401 and b'action="/mod/login"' in body, path
    status, _ = send(live, "POST", b"/mod/logout", {b"Cookie": b"glyphbot_session=x" + LATIN1,
                                                    b"Content-Type": b"application/x-www-form-urlencoded"}, b"csrf_token=x")
    assert status == 401


@pytest.mark.parametrize("document", [b"[" * 3000 + b"]" * 3000, b'{"a":' * 2000 + b"1" + b"}" * 2000,
                                      b'{"prompt": "X", "options": ' + b"[" * 5000])
def test_deeply_nested_json_is_400_naming_the_limit(live: Live, document: bytes) -> None:
    for path in (b"/api/v1/jobs", b"/api/v1/tumblr/posts"):
        status, body = send(live, "POST", path, {b"Authorization": f"Bearer {live.token}".encode(),
                                                 b"Content-Type": b"application/json"}, document)
        assert status == 400, body[:300]
        assert b"invalid_json" in body and f"nested more than {MAX_JSON_DEPTH} levels".encode() in body


def test_json_nested_within_the_limit_still_parses(live: Live) -> None:
    document = b'{"prompt": "X", "options": ' + b"[" * 10 + b"]" * 10 + b"}"
    status, body = send(live, "POST", b"/api/v1/jobs", {b"Authorization": f"Bearer {live.token}".encode(),
                                                        b"Content-Type": b"application/json"}, document)
    assert status == 422, body  # parsed, then refused by validation: options is not a list


FORM = b"application/x-www-form-urlencoded"


def hostile_requests(live: Live) -> list[tuple[str, bytes, dict[bytes, bytes], bytes]]:
    """Undecodable or malformed bytes in every header, cookie, query and form value the server reads."""
    session = b"glyphbot_session=" + live.cookie.encode()
    csrf = b"csrf_token=" + live.csrf.encode()
    key = {b"Authorization": f"Bearer {live.token}".encode()}
    cases: list[tuple[str, bytes, dict[bytes, bytes], bytes]] = []
    for path in (b"/mod/login?next=%ff%fe", b"/mod/login?next=" + LATIN1, b"/mod/history?q=%ff&user=%fe&since=%ff",
                 b"/mod/history?%ff=1", b"/mod/audit?before_id=%ff", b"/mod/jobs/%ff", b"/mod/images/%ff"):
        cases.append(("GET", path, {b"Cookie": session}, b""))
    for path in (b"/api/v1/jobs?status=%ff", b"/api/v1/jobs?%ff=1", b"/api/v1/jobs?%ff=1&%ff=2", b"/api/v1/jobs/%ff",
                 b"/api/v1/jobs?before_id=%ff%fe", b"/api/v1/images/%ff", b"/api/v1/jobs?requester=" + LATIN1):
        cases.append(("GET", path, key, b""))
    for header in (b"Origin", b"Referer"):
        for value in (LATIN1, b"http://[::1", b"http://" + LATIN1 + b"/", b"http://host:99999/", b"null"):
            cases.append(("POST", b"/mod/terms", {b"Cookie": session, b"Content-Type": FORM, header: value},
                          csrf + b"&term=x"))
    for body in (csrf + b"&term=" + LATIN1, csrf + b"&term=%ff%fe&reason=%ff", b"csrf_token=" + LATIN1,
                 csrf + b"&kind=%ff&source=%ff&subject=%ff", csrf + b"&next=%ff"):
        for path in (b"/mod/terms", b"/mod/terms/remove", b"/mod/bans"):
            cases.append(("POST", path, {b"Cookie": session, b"Content-Type": FORM}, body))
    for content_type in (FORM + b"; charset=no-such-charset", FORM + b"; charset=utf-16", b"multipart/form-data",
                         b"multipart/form-data; boundary=" + LATIN1, b"text/plain; charset=" + LATIN1):
        cases.append(("POST", b"/mod/terms", {b"Cookie": session, b"Content-Type": content_type}, csrf + b"&term=x"))
    login_form = b"login_token=" + LATIN1 + b"&name=" + LATIN1 + b"&password=%ff%fe"
    for headers in ({b"Content-Type": FORM}, {b"Content-Type": FORM, b"Cookie": b"glyphbot_login=" + LATIN1},
                    {b"Content-Type": FORM + b"; charset=no-such-charset"}, {b"Content-Type": FORM, b"X-Forwarded-For": LATIN1}):
        cases.append(("POST", b"/mod/login", headers, login_form))
    for content_type in (b"application/json; charset=" + LATIN1, b"application/json; charset=no-such-charset", LATIN1):
        cases.append(("POST", b"/api/v1/jobs", {**key, b"Content-Type": content_type}, b'{"prompt": "X"}'))
    for body in (b'{"prompt": "\\ud800"}', b'{"prompt": "X", "place": "\\udfff"}', b'{"prompt": "X", "idempotency_key": "\\ud800"}',
                 b'{"prompt": "' + LATIN1 + b'"}', b'{"\\ud800": 1}'):
        cases.append(("POST", b"/api/v1/jobs", {**key, b"Content-Type": b"application/json"}, body))
    cases.append(("POST", b"/api/v1/tumblr/posts", {**key, b"Content-Type": b"application/json"},
                  b'{"idempotency_key": "\\ud800", "text": "x"}'))
    cases.append(("GET", b"/api/v1/jobs", {**key, b"Accept": LATIN1, b"User-Agent": LATIN1, b"X-Forwarded-For": LATIN1}, b""))
    for host in (LATIN1, b"[::1", b"host:99999", b""):
        cases.append(("POST", b"/mod/terms", {b"Cookie": session, b"Content-Type": FORM, b"Origin": b"http://127.0.0.1",
                                              b"Host": host}, csrf + b"&term=x"))
    return cases


def test_no_hostile_input_gives_a_server_error(live: Live) -> None:
    failures = []
    for method, path, headers, body in hostile_requests(live):
        status, content = send(live, method, path, headers, body)
        if status >= 500:
            failures.append((status, method, path, headers, body, content[:200]))
    assert failures == [], "\n".join(repr(f[:3] + (f[4][:60], f[5][:80])) for f in failures)


# Any byte but the line breaks that would end the header (and NUL, which the parser refuses outright).
_header_value = st.binary(max_size=40).map(lambda value: value.translate(None, b"\r\n\x00"))
_form_body = st.lists(st.tuples(st.sampled_from([b"csrf_token", b"term", b"reason", b"next", b"kind", b"subject", b"name"]),
                                st.binary(max_size=20)), max_size=5).map(lambda pairs: b"&".join(k + b"=" + v for k, v in pairs))
_json_body = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                          max_leaves=20).map(lambda value: json.dumps({"prompt": "X", "options": value}).encode())


@settings(max_examples=60, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(target=st.sampled_from([("GET", b"/api/v1/jobs"), ("POST", b"/api/v1/jobs"), ("GET", b"/mod/history"),
                               ("POST", b"/mod/terms"), ("POST", b"/mod/login"), ("POST", b"/mod/bans")]),
       header=st.sampled_from([b"Authorization", b"Cookie", b"Origin", b"Referer", b"X-Forwarded-For", b"Content-Type"]),
       value=_header_value, valid_session=st.booleans(), body=_form_body | _json_body | st.binary(max_size=60),
       query=st.binary(max_size=20).map(lambda raw: b"".join(b"%%%02x" % byte for byte in raw)))
def test_fuzzed_bytes_never_give_a_server_error(live: Live, target: tuple[str, bytes], header: bytes, value: bytes,
                                                valid_session: bool, body: bytes, query: bytes) -> None:
    method, path = target
    headers = {b"Authorization": f"Bearer {live.token}".encode(), b"Content-Type": FORM if path.startswith(b"/mod") else b"application/json"}
    if valid_session:
        headers[b"Cookie"] = b"glyphbot_session=" + live.cookie.encode()
        body = b"csrf_token=" + live.csrf.encode() + b"&" + body
    headers[header] = value
    status, content = send(live, method, path + b"?q=" + query + b"&" + query + b"=1", headers, body if method == "POST" else b"")
    assert status < 500, content[:300]
