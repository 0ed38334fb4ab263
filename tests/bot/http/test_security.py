"""Security: authentication and scopes everywhere, CSRF, other clients' jobs, traversal, injection, cookies."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient

from bot.http.accounts import add_moderator, create_api_key, revoke_api_key
from bot.http.api import api
from storage.db import Database
from storage.images import ImageStore
from storage.jobs import JobQueue
from tests.bot.http.conftest import PASSWORD, bearer, finish, log_in

SHA = "0" * 64


def concrete(path: str, job_id: int = 1, sha: str = SHA) -> str:
    return path.replace("{job_id}", str(job_id)).replace("{post_id}", str(job_id)).replace("{sha256}", sha)


def moderator_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) of the moderator app except the login form and static files."""
    routes = []
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/mod/") and path != "/mod/login" and route.method != "HEAD" and "prefix" not in info:
            routes.append((route.method, re.sub(r"\{job_id[^}]*\}|\{ban_id[^}]*\}", "1", path).replace("{sha256}", SHA).replace("{name}", "some-style")))
    return routes


async def test_every_api_endpoint_refuses_without_a_valid_key(client: TestClient, db: Database) -> None:
    revoked, info = create_api_key(db, "gone", ["submit", "read", "moderate"])
    revoke_api_key(db, info.id)
    assert len(api.endpoints) >= 7
    for endpoint in api.endpoints:
        for headers in ({}, bearer("gbk_not-a-real-key"), bearer(revoked), {"Authorization": "Basic dXNlcjpwYXNz"}):
            reply = await client.request(endpoint.method, concrete(endpoint.path), headers=headers, json={"prompt": "X"})
            assert reply.status == 401, (endpoint.path, headers)
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")


async def test_scopes_are_enforced(client: TestClient, keys: dict) -> None:
    reply = await client.post("/api/v1/jobs", json={"prompt": "X"}, headers=keys["alpha_read"])
    assert reply.status == 403 and "`submit` scope" in (await reply.json())["message"]
    job = await (await client.post("/api/v1/jobs", json={"prompt": "X"}, headers=keys["alpha_submit"])).json()
    for path in ("/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/images", "/api/v1/jobs/{job_id}/wait", "/api/v1/jobs"):
        reply = await client.get(concrete(path, job["id"]), headers=keys["alpha_submit"])
        assert reply.status == 403, path
    reply = await client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=keys["alpha_read"])
    assert reply.status == 403


async def test_another_clients_job_and_images_are_invisible(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    job = await (await client.post("/api/v1/jobs", json={"prompt": "MINE"}, headers=keys["alpha"])).json()
    await asyncio.to_thread(finish, db, store)
    sha = next(i.sha256 for i in JobQueue(db, store).images_of(job["id"]) if i.chosen)
    for path in ("/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/images", "/api/v1/jobs/{job_id}/wait",
                 "/api/v1/jobs/{job_id}/events", "/api/v1/images/{sha256}"):
        beta = await client.get(concrete(path, job["id"], sha), headers=keys["beta"])
        missing = await client.get(concrete(path, 999_999, "f" * 64), headers=keys["beta"])
        assert beta.status == missing.status == 404, path  # indistinguishable from a job that does not exist
        assert (await client.get(concrete(path, job["id"], sha), headers=keys["alpha"])).status == 200, path
        assert (await client.get(concrete(path, job["id"], sha), headers=keys["mod"])).status == 200, path
    assert (await client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=keys["beta"])).status == 404
    listing = await (await client.get("/api/v1/jobs", headers=keys["beta"])).json()
    assert listing["jobs"] == []


async def test_hidden_images_are_withheld_from_clients(client: TestClient, keys: dict, moderator: str, db: Database, store: ImageStore) -> None:
    job = await (await client.post("/api/v1/jobs", json={"prompt": "HIDE ME"}, headers=keys["alpha"])).json()
    await asyncio.to_thread(finish, db, store)
    images = await (await client.get(f"/api/v1/jobs/{job['id']}/images", headers=keys["alpha"])).json()
    sha = images["winner"]["sha256"]
    await client.post(f"/mod/images/{sha}/hide", data={"csrf_token": moderator})
    images = await (await client.get(f"/api/v1/jobs/{job['id']}/images", headers=keys["alpha"])).json()
    assert images["winner"]["hidden"] and images["winner"]["url"] is None
    reply = await client.get(f"/api/v1/images/{sha}", headers=keys["alpha"])
    assert reply.status == 410
    assert (await client.get(f"/api/v1/images/{sha}", headers=keys["mod"])).status == 200
    assert (await client.get(f"/mod/images/{sha}")).status == 200  # moderators review hidden images


async def test_every_moderator_page_and_action_refuses_without_a_session(client: TestClient) -> None:
    routes = moderator_routes(client)
    assert {"GET", "POST"} <= {method for method, _ in routes} and len(routes) >= 14
    for method, path in routes:
        reply = await client.request(method, path, data={"csrf_token": "x"}, allow_redirects=False)
        assert reply.status == 401, (method, path)
    reply = await client.get("/mod/history")
    assert 'action="/mod/login"' in await reply.text()  # the 401 page is the login form


async def test_posts_without_the_csrf_token_or_from_another_site_are_refused(client: TestClient, moderator: str, db: Database) -> None:
    posts = [path for method, path in moderator_routes(client) if method == "POST"]
    for path in posts:
        for data, headers in [({}, {}), ({"csrf_token": "forged"}, {}),
                              ({"csrf_token": moderator}, {"Origin": "https://evil.example"})]:
            reply = await client.post(path, data=data, headers=headers, allow_redirects=False)
            assert reply.status == 403, (path, data, headers)
    assert (await client.get("/mod/audit")).status == 200  # still logged in: the refused logout did nothing
    # The login form itself is protected too (login CSRF): a post without the form's token fails.
    add_moderator(db, "eve", PASSWORD)
    reply = await client.post("/mod/login", data={"name": "eve", "password": PASSWORD}, allow_redirects=False)
    assert reply.status == 403


async def test_path_traversal_is_refused(client: TestClient, keys: dict, moderator: str) -> None:
    for path in ("/api/v1/images/..%2F..%2Fetc%2Fpasswd", "/api/v1/images/../../etc/passwd", f"/api/v1/images/{'A' * 64}",
                 "/api/v1/images/%2e%2e%2f" + "0" * 58):
        reply = await client.get(path, headers=keys["mod"])
        assert reply.status == 404, path
    for path in ("/mod/images/..%2F..%2Fetc%2Fpasswd", "/mod/images/" + "0" * 63 + "%2F", "/mod/static/..%2F..%2Fapp.py",
                 "/mod/static/../views.py"):
        reply = await client.get(path)
        assert reply.status in (403, 404), path
        assert b"import" not in await reply.read()


async def test_injection_is_rendered_harmless(client: TestClient, keys: dict, moderator: str, db: Database, store: ImageStore) -> None:
    attack = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    job = await (await client.post("/api/v1/jobs", json={"prompt": attack, "place": "<b>place</b>"}, headers=keys["alpha"])).json()
    await asyncio.to_thread(finish, db, store, ["<svg onload=alert(3)>"])
    for path in ("/mod/history", f"/mod/jobs/{job['id']}"):
        page = await (await client.get(path)).text()
        assert "<script>alert" not in page and "<img src=x" not in page and "<svg onload" not in page and "<b>place" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for query in ("' OR 1=1 --", "%", "_", "\\", "'; DROP TABLE jobs; --"):
        reply = await client.get("/mod/history", params={"q": query})
        assert reply.status == 200, query
        assert re.findall(r'class="job-link">#(\d+)<', await reply.text()) == [], query  # literal text, matches nothing
    reply = await client.get("/mod/history", params={"q": "script>alert"})
    assert re.findall(r'class="job-link">#(\d+)<', await reply.text()) == [str(job["id"])]


async def test_cookies_and_headers(client: TestClient, db: Database, http_config) -> None:  # noqa: ANN001
    add_moderator(db, "sam", PASSWORD)
    reply = await client.get("/mod/login")
    assert reply.headers["X-Frame-Options"] == "DENY" and "script-src 'self'" in reply.headers["Content-Security-Policy"]
    token = re.search(r'name="login_token" value="([^"]+)"', await reply.text()).group(1)
    reply = await client.post("/mod/login", data={"login_token": token, "name": "sam", "password": PASSWORD}, allow_redirects=False)
    cookie = reply.cookies["glyphbot_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/mod"
    assert not cookie["secure"] and not http_config.cookie_secure  # these tests turn Secure off; the default is on:
    from bot.http.settings import HttpSettings

    assert HttpSettings().cookie_secure and HttpSettings().host == "127.0.0.1"


async def test_open_redirects_are_refused(client: TestClient, db: Database) -> None:
    add_moderator(db, "olga", PASSWORD)
    page = await (await client.get("/mod/login?next=//evil.example/x")).text()
    token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
    assert 'value="/mod/"' in page
    reply = await client.post("/mod/login", data={"login_token": token, "name": "olga", "password": PASSWORD,
                                                  "next": "https://evil.example"}, allow_redirects=False)
    assert reply.headers["Location"] == "/mod/"


async def login_attempt(client: TestClient, name: str, password: str, address: str | None = None) -> int:
    """One login through the form; `address` is the client's as a trusted proxy reports it in X-Forwarded-For."""
    headers = {} if address is None else {"X-Forwarded-For": f"203.0.113.9, {address}"}
    page = await (await client.get("/mod/login")).text()
    token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
    reply = await client.post("/mod/login", data={"login_token": token, "name": name, "password": password},
                              headers=headers, allow_redirects=False)
    return reply.status


async def test_wrong_passwords_and_login_rate_limit(client: TestClient, db: Database) -> None:
    add_moderator(db, "tom", PASSWORD)
    assert await login_attempt(client, "tom", "wrong password") == 401
    assert await login_attempt(client, "tom", "nobody knows") == 401
    statuses = [await login_attempt(client, "tom", "guess %d" % i) for i in range(5)]
    assert 429 in statuses  # five attempts a minute per address and name
    assert await login_attempt(client, "tom", PASSWORD) == 429  # even the right password waits: no oracle for a guesser
    # Without a trusted proxy, X-Forwarded-For is the client's own word and changes nothing.
    assert await login_attempt(client, "tom", PASSWORD, address="198.51.100.7") == 429


async def test_rate_limit_per_key_with_retry_after(db: Database, store: ImageStore, limits) -> None:  # noqa: ANN001
    from aiohttp.test_utils import TestServer

    from bot.http import create_app
    from bot.http.settings import HttpSettings

    app = create_app(None, db, images=store, http=HttpSettings(rate_limit_burst=3, rate_limit_per_minute=6, cookie_secure=False),
                     limits=limits)
    slow, _ = create_api_key(db, "slow", ["read"])
    fast, _ = create_api_key(db, "fast", ["read"], rate_per_minute=6000)
    async with TestClient(TestServer(app)) as test_client:
        statuses = [(await test_client.get("/api/v1/jobs", headers=bearer(slow))).status for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        reply = await test_client.get("/api/v1/jobs", headers=bearer(slow))
        assert reply.status == 429 and 1 <= int(reply.headers["Retry-After"]) <= 10
        assert (await test_client.get("/api/v1/jobs", headers=bearer(fast))).status == 200  # other keys are unaffected


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "-lead"])
def test_bad_client_names_are_refused(sqlite_db: Database, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        create_api_key(sqlite_db, name, ["read"])


def test_unknown_scopes_and_short_passwords_are_refused(sqlite_db: Database) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        create_api_key(sqlite_db, "ok", ["read", "admin"])
    with pytest.raises(ValueError, match="at least 10"):
        add_moderator(sqlite_db, "ok", "short")
