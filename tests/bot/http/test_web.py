"""The moderator web app: history filters, the job page, actions and their audit entries, the dashboard."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from aiohttp.test_utils import TestClient

from bot.http.accounts import add_moderator, disable_moderator, set_moderator_password
from storage.db import Database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.moderation import Moderation
from storage.types import JobSubmission, QueueLimits
from generation.types import RenderRequest
from tests.bot.http.conftest import PASSWORD, finish, log_in


def queue_job(db: Database, prompt: str, *, source: str = "discord", requester: str = "u1", name: str = "ursula", place: str = "") -> int:
    queue = JobQueue(db, None, QueueLimits(per_requester=100, per_place=100))
    job = queue.submit(JobSubmission(RenderRequest(prompt=prompt), source, requester, name, place))
    return job.id


def job_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="job-link">#(\d+)<', page)]


async def test_history_filters(client: TestClient, moderator: str, db: Database, store: ImageStore) -> None:
    first = queue_job(db, "OPEN LATE", source="discord", requester="111", name="ann", place="guild-a")
    await asyncio.to_thread(finish, db, store, ["OPEN LATE", "0PEN LATE"])
    second = queue_job(db, "NO PARKING", source="tumblr", requester="blogger", place="blog-b")
    await asyncio.to_thread(finish, db, store, ["N0 PARKlNG"])
    third = queue_job(db, "HELLO", source="discord", requester="222", name="bob", place="guild-a")

    async def ids(query: str) -> list[int]:
        reply = await client.get("/mod/history" + query)
        assert reply.status == 200, await reply.text()
        return job_ids(await reply.text())

    assert await ids("") == [third, second, first]
    assert await ids("?source=tumblr") == [second]
    assert await ids("?status=queued") == [third]
    assert await ids("?user=ann") == [first] and await ids("?user=222") == [third]
    assert await ids("?place=guild-a") == [third, first]
    assert await ids("?q=parklng") == [second]  # found in the OCR reading only, case-insensitively
    assert await ids("?q=open+late") == [first]
    today = dt.datetime.now(dt.timezone.utc).date()
    assert await ids(f"?since={today}&until={today}") == [third, second, first]
    assert await ids(f"?until={today - dt.timedelta(days=1)}") == []
    reply = await client.get("/mod/history?status=exploded&since=yesterday")
    page = await reply.text()
    assert reply.status == 400 and "status: Value error, must be one of" in page and "since:" in page


async def test_history_pages(client: TestClient, moderator: str, db: Database, http_config) -> None:  # noqa: ANN001
    size = http_config.history_page_size
    made = [queue_job(db, f"JOB {i}") for i in range(size + 3)]
    page = await (await client.get("/mod/history")).text()
    assert job_ids(page) == made[::-1][:size]
    older = re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    assert job_ids(await (await client.get(older)).text()) == made[::-1][size:]


async def test_job_page_shows_every_candidate_with_readings(client: TestClient, moderator: str, db: Database, store: ImageStore) -> None:
    job_id = queue_job(db, "SALE")
    await asyncio.to_thread(finish, db, store, ["SALE", "SA1E"], winner=1)
    page = await (await client.get(f"/mod/jobs/{job_id}")).text()
    images = JobQueue(db, store).images_of(job_id)
    for image in images:
        assert f"/mod/images/{image.sha256}" in page
        assert f"seed {image.seed}" in page
    assert page.count('<figure class="candidate') == 4 and page.count("<strong>winner</strong>") == 1
    assert "score 0.400" in page and "SA1E" in page and "guidance 3.0" in page and "dpmsolver" in page
    winner = next(i for i in images if i.chosen)
    assert (await client.get(f"/mod/images/{winner.sha256}")).status == 200
    assert (await client.get("/mod/jobs/999999")).status == 404


async def test_hide_ban_and_terms_are_audited(client: TestClient, moderator: str, db: Database, store: ImageStore) -> None:
    job_id = queue_job(db, "RUDE", requester="999")
    await asyncio.to_thread(finish, db, store)
    sha = next(i.sha256 for i in JobQueue(db, store).images_of(job_id) if i.chosen)
    reply = await client.post(f"/mod/images/{sha}/hide", data={"csrf_token": moderator, "reason": "rude", "next": f"/mod/jobs/{job_id}"},
                              allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == f"/mod/jobs/{job_id}"
    assert Moderation(db).is_hidden(sha)
    assert "Unhide" in await (await client.get(f"/mod/jobs/{job_id}")).text()
    await client.post(f"/mod/images/{sha}/unhide", data={"csrf_token": moderator})
    assert not Moderation(db).is_hidden(sha)
    await client.post("/mod/bans", data={"csrf_token": moderator, "kind": "user", "source": "discord", "subject": "999", "reason": "spam"})
    [ban] = Moderation(db).bans()
    assert (ban.subject, ban.moderator) == ("999", "mia")
    await client.post(f"/mod/bans/{ban.id}/lift", data={"csrf_token": moderator})
    assert Moderation(db).bans() == []
    await client.post("/mod/terms", data={"csrf_token": moderator, "term": "Badword", "reason": "slur"})
    assert "Badword" in await (await client.get("/mod/moderation")).text()  # shown as the moderator typed it
    await client.post("/mod/terms/remove", data={"csrf_token": moderator, "term": "badword"})
    audit = await (await client.get("/mod/audit")).text()
    actions = re.findall(r'class="action">([a-z_]+)<', audit)
    assert actions == ["unblock_term", "block_term", "lift_ban", "ban", "unhide_image", "hide_image"]
    assert audit.count("<td>mia</td>") == 6 and sha in audit


async def test_bad_action_input_is_refused_plainly(client: TestClient, moderator: str) -> None:
    for data, words in [({"kind": "planet", "source": "discord", "subject": "1"}, "kind must be one of"),
                        ({"kind": "user", "source": "myspace", "subject": "1"}, "source must be one of"),
                        ({"kind": "user", "source": "discord", "subject": " "}, "give the user id")]:
        reply = await client.post("/mod/bans", data={"csrf_token": moderator, **data})
        assert reply.status == 400 and words in await reply.text()
    reply = await client.post("/mod/terms", data={"csrf_token": moderator, "term": "  "})
    assert reply.status == 400
    reply = await client.post("/mod/bans/12345/lift", data={"csrf_token": moderator})
    assert reply.status == 404


async def test_dashboard_figures(client: TestClient, moderator: str, db: Database, store: ImageStore) -> None:
    for prompt, readings in [("EXACT", ["EXACT"]), ("WRONG", ["WR0NG"])]:
        queue_job(db, prompt)
        await asyncio.to_thread(finish, db, store, readings)
    queue_job(db, "WAITING")
    queue_job(db, "RUNNING")
    JobQueue(db, store).claim("w", lease_s=60)  # takes WAITING (oldest): one running, one queued
    page = await (await client.get("/mod/")).text()
    assert re.search(r'id="queued">1<', page) and re.search(r'id="running">1<', page)
    assert "50%" in page and "last 2 winners" in page
    assert page.count("<svg") == 3
    panel = await client.get("/mod/dashboard/panel")
    assert panel.status == 200 and "<html" not in await panel.text()


async def test_sessions_end_at_logout_when_disabled_and_with_a_new_password(client: TestClient, db: Database) -> None:

    add_moderator(db, "max", PASSWORD)
    csrf = await log_in(client, "max", PASSWORD)
    assert (await client.get("/mod/audit")).status == 200
    reply = await client.post("/mod/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert reply.status == 303
    assert (await client.get("/mod/audit")).status == 401
    await log_in(client, "max", PASSWORD)
    disable_moderator(db, "max")
    assert (await client.get("/mod/audit")).status == 401
    assert set_moderator_password(db, "max", "a brand new password")  # and enabled again
    await log_in(client, "max", "a brand new password")
    assert (await client.get("/mod/audit")).status == 200
    set_moderator_password(db, "max", PASSWORD)
    assert (await client.get("/mod/audit")).status == 401


async def test_every_route_answers_404_for_a_missing_image_or_row(client: TestClient, moderator: str, db: Database,
                                                                  store: ImageStore) -> None:
    """Unknown ids, unknown hashes and an image row whose file left the store: 404 with one line, never 500."""
    job_id = queue_job(db, "GONE")
    await asyncio.to_thread(finish, db, store)
    lost = next(i.sha256 for i in JobQueue(db, store).images_of(job_id) if i.chosen)
    store.path(lost).unlink()
    unknown, form = "e" * 64, {"csrf_token": moderator}
    for method, path in [("GET", "/mod/jobs/999999"), ("GET", f"/mod/images/{unknown}"), ("GET", f"/mod/images/{lost}"),
                         ("POST", f"/mod/images/{unknown}/hide"), ("POST", f"/mod/images/{unknown}/unhide"),
                         ("POST", "/mod/bans/999999/lift"), ("POST", "/mod/styles/nosuchstyle/delete")]:
        reply = await client.request(method, path, data=form if method == "POST" else None, allow_redirects=False)
        body = await reply.text()
        assert (reply.status, body.count("\n")) == (404, 0), f"{method} {path}: {reply.status} {body[:300]}"
    assert not Moderation(db).is_hidden(unknown) and Moderation(db).audit_log() == []
