"""The JSON API end to end: real aiohttp server, real storage (SQLite and PostgreSQL), real PNG files."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json

import pytest
from aiohttp.test_utils import TestClient

from storage.db import Database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.models import JobRow
from storage.moderation import Moderation
from tests.bot.http.conftest import finish
from tests.term_bypasses import BLOCKED, BYPASSES

JOBS = "/api/v1/jobs"


async def submit(client: TestClient, headers: dict, **body) -> tuple[int, dict]:
    reply = await client.post(JOBS, json=body, headers=headers)
    return reply.status, await reply.json()


async def test_submit_then_status_with_queue_position(client: TestClient, keys: dict) -> None:
    status, first = await submit(client, keys["alpha"], prompt="HELLO\nWORLD", negative_prompt="blurry",
                                 options={"candidates": 2, "seed": 7, "scheduler": "ddim"})
    assert status == 201
    assert first["status"] == "queued" and first["prompt"] == "HELLO\nWORLD" and first["negative_prompt"] == "blurry"
    assert first["options"]["candidates"] == 2 and first["options"]["seed"] == 7 and first["options"]["scheduler"] == "ddim"
    assert first["queue_position"] == 1 and first["eta_seconds"] is None  # no finished job yet to estimate from
    _, second = await submit(client, keys["alpha"], prompt="SECOND")
    reply = await client.get(f"{JOBS}/{second['id']}", headers=keys["alpha_read"])
    assert reply.status == 200
    assert (await reply.json())["queue_position"] == 2


async def test_a_queued_job_says_when_no_worker_is_running(client: TestClient, keys: dict, db: Database) -> None:
    _, view = await submit(client, keys["alpha"], prompt="HELLO")
    assert view["workers_alive"] == 0 and "no worker is running" in view["notice"]
    await asyncio.to_thread(JobQueue(db).worker_alive, "gpu-host:1:abc", ttl_s=60)
    reply = await client.get(f"{JOBS}/{view['id']}", headers=keys["alpha_read"])
    current = await reply.json()
    assert current["workers_alive"] == 1 and current["notice"] is None


async def test_eta_comes_from_finished_jobs(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    await submit(client, keys["alpha"], prompt="FIRST")
    job_id = await asyncio.to_thread(finish, db, store)
    with db.write() as session:  # the finished job took ten seconds to run
        row = session.get(JobRow, job_id)
        row.started_at = row.finished_at - dt.timedelta(seconds=10)
    views = [(await submit(client, keys["alpha"], prompt=text))[1] for text in ("NEXT", "LATER")]
    assert [view["queue_position"] for view in views] == [1, 2]
    assert [view["eta_seconds"] for view in views] == [10.0, 20.0]  # one run each, one after the other


async def test_idempotency_key_returns_the_first_job_and_refuses_a_different_request(client: TestClient, keys: dict) -> None:
    status, first = await submit(client, keys["alpha"], prompt="ONCE", idempotency_key="post-42")
    again_status, again = await submit(client, keys["alpha"], prompt="ONCE", idempotency_key="post-42")
    assert (status, again_status) == (201, 200)
    assert again["id"] == first["id"] and again["idempotency_key"] == "post-42"
    conflict_status, conflict = await submit(client, keys["alpha"], prompt="TWICE", idempotency_key="post-42")
    assert conflict_status == 409 and conflict["error"] == "idempotency_conflict"
    # Keys are per client: another client's identical key makes its own job.
    beta_status, beta_job = await submit(client, keys["beta"], prompt="ONCE", idempotency_key="post-42")
    assert beta_status == 201 and beta_job["id"] != first["id"]


async def test_transcript_becomes_the_prompt(client: TestClient, keys: dict) -> None:
    transcript = "\n=======\n=======\na door sign\n=======\nPULL\nHARD\n=======\n"
    status, job = await submit(client, keys["alpha"], transcript=transcript)
    assert status == 201 and job["prompt"] == "PULL\nHARD"


async def test_malformed_transcripts_get_precise_422(client: TestClient, keys: dict) -> None:
    status, error = await submit(client, keys["alpha"], transcript="=======\nNO END")
    assert status == 422 and error["details"][0]["loc"] == "body.transcript" and "malformed transcript" in error["message"]
    status, error = await submit(client, keys["alpha"], transcript="=======\nA\n=======\n\n=======\nB\n=======\n")
    assert status == 422 and "exactly one" in error["message"] and "not 2" in error["message"]
    status, error = await submit(client, keys["alpha"], transcript="plain prose, no block")
    assert status == 422 and "not 0" in error["message"]


async def test_validation_errors_name_the_field(client: TestClient, keys: dict) -> None:
    cases = [
        ({"prompt": "X", "options": {"candidates": 99}}, "body.options.candidates", "less than or equal to 8"),
        ({"prompt": "X", "options": {"guidance_scale": "3"}}, "body.options.guidance_scale", "valid number"),
        ({"prompt": "X", "options": {"steps": 3}}, "body.options.steps", "unknown name; allowed: guidance_scale,"),
        ({"prompt": "X", "colour": "red"}, "body.colour", "allowed: prompt, transcript, negative_prompt"),
        ({"prompt": "X", "transcript": "=======\nX\n======="}, "body", "exactly one of `prompt` or `transcript`"),
        ({}, "body", "exactly one of"),
        ({"prompt": "   "}, "body.prompt", "pattern"),
        ({"prompt": "A\x00B"}, "body.prompt", "pattern"),
        ({"prompt": "X" * 381}, "body.prompt", "at most 380"),
        ({"prompt": "X", "idempotency_key": "has space"}, "body.idempotency_key", "pattern"),
        ({"prompt": 5}, "body.prompt", "valid string"),
    ]
    for body, loc, words in cases:
        reply = await client.post(JOBS, json=body, headers=keys["alpha"])
        error = await reply.json()
        assert reply.status == 422, body
        assert error["error"] == "validation_error"
        assert any(d["loc"] == loc and words in d["msg"] for d in error["details"]), (body, error)


async def test_malformed_bodies(client: TestClient, keys: dict) -> None:
    headers = {**keys["alpha"], "Content-Type": "application/json"}
    for raw, status, code in [(b"", 400, "invalid_json"), (b"{nope", 400, "invalid_json"), (b'{"prompt": NaN}', 400, "invalid_json"),
                              (b"[1]", 422, "validation_error"), (b"\xff\xfe", 400, "invalid_json")]:
        reply = await client.post(JOBS, data=raw, headers=headers)
        assert (reply.status, (await reply.json())["error"]) == (status, code), raw
    reply = await client.post(JOBS, data="prompt=X", headers={**keys["alpha"], "Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 415 and "application/json" in (await reply.json())["message"]
    reply = await client.post(JOBS, data=json.dumps({"prompt": "X" * 200_000}), headers=headers)
    assert reply.status == 413 and (await reply.json())["error"] == "body_too_large"


async def test_query_parameters_are_validated(client: TestClient, keys: dict) -> None:
    for query, loc in [("?limit=0", "query.limit"), ("?limit=x", "query.limit"), ("?status=done", "query.status"),
                       ("?colour=red", "query.colour"), ("?limit=1&limit=2", "query.limit")]:
        reply = await client.get(JOBS + query, headers=keys["alpha"])
        assert reply.status == 422, query
        assert (await reply.json())["details"][0]["loc"] == loc
    reply = await client.get(f"{JOBS}?before_id=1&colour=red", headers=keys["alpha"])
    assert (await reply.json())["message"] == "query.colour: unknown name; allowed: status, limit, before_id"
    reply = await client.get(f"{JOBS}/abc", headers=keys["alpha"])
    assert reply.status == 404 and (await reply.json())["details"][0]["loc"] == "path.job_id"


async def test_wait_long_polls_until_done(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    _, job = await submit(client, keys["alpha"], prompt="WAIT")
    reply = await client.get(f"{JOBS}/{job['id']}/wait?timeout=0.2", headers=keys["alpha"])
    assert reply.status == 200 and (await reply.json())["status"] == "queued"
    waiting = asyncio.ensure_future(client.get(f"{JOBS}/{job['id']}/wait?timeout=5", headers=keys["alpha"]))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(finish, db, store)
    reply = await waiting
    done = await reply.json()
    assert done["status"] == "succeeded" and done["queue_position"] is None and done["finished_at"] is not None


async def test_events_stream_progress_until_done(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    _, job = await submit(client, keys["alpha"], prompt="STREAM")
    reply = await client.get(f"{JOBS}/{job['id']}/events", headers=keys["alpha"])
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/event-stream")
    first = await reply.content.readuntil(b"\n\n")
    assert first.startswith(b"event: update\ndata: ") and json.loads(first.split(b"data: ", 1)[1])["status"] == "queued"
    await asyncio.to_thread(finish, db, store)
    rest = (await reply.content.read()).decode()
    events = [block for block in rest.split("\n\n") if block]
    assert json.loads(events[-1].split("data: ", 1)[1])["status"] == "succeeded"


async def test_images_list_every_candidate_and_serve_bytes_by_hash(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    _, job = await submit(client, keys["alpha"], prompt="TEXT")
    await asyncio.to_thread(finish, db, store, ["TEXT", "TEXI", "TFXT"], winner=0)
    reply = await client.get(f"{JOBS}/{job['id']}/images", headers=keys["alpha"])
    body = await reply.json()
    assert reply.status == 200 and len(body["candidates"]) == 6
    assert body["winner"]["chosen"] and body["winner"]["ocr_text"] == "TEXT" and body["winner"]["ocr_score"] == 1.0
    assert sorted(c["ocr_text"] for c in body["candidates"] if c["stage"] == "sr") == ["TEXI", "TEXT", "TFXT"]
    image = await client.get(body["winner"]["url"], headers=keys["alpha"])
    data = await image.read()
    assert image.status == 200 and image.content_type == "image/png"
    assert hashlib.sha256(data).hexdigest() == body["winner"]["sha256"]
    assert image.headers["X-Content-Type-Options"] == "nosniff"


async def test_cancel(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    _, job = await submit(client, keys["alpha"], prompt="STOP")
    reply = await client.post(f"{JOBS}/{job['id']}/cancel", headers=keys["alpha_submit"])
    assert reply.status == 200 and (await reply.json())["status"] == "cancelled"
    _, done = await submit(client, keys["alpha"], prompt="DONE")
    await asyncio.to_thread(finish, db, store)
    reply = await client.post(f"{JOBS}/{done['id']}/cancel", headers=keys["alpha"])
    assert (await reply.json())["status"] == "succeeded"  # finished jobs stay as they are


async def test_list_shows_only_own_jobs_newest_first(client: TestClient, keys: dict) -> None:
    ids = [(await submit(client, keys["alpha"], prompt=f"A{i}"))[1]["id"] for i in range(3)]
    await submit(client, keys["beta"], prompt="B")
    reply = await client.get(f"{JOBS}?limit=2", headers=keys["alpha"])
    page = await reply.json()
    assert [j["id"] for j in page["jobs"]] == ids[:0:-1] and page["next_before_id"] == ids[1]
    rest = await (await client.get(f"{JOBS}?before_id={page['next_before_id']}", headers=keys["alpha"])).json()
    assert [j["id"] for j in rest["jobs"]] == [ids[0]] and rest["next_before_id"] is None


async def test_moderation_policy_answers(client: TestClient, keys: dict, db: Database) -> None:
    moderation = Moderation(db)
    moderation.block_term("forbidden", moderator="mia")
    status, error = await submit(client, keys["alpha"], prompt="a FORBIDDEN word")
    assert status == 422 and error["error"] == "blocked_term"
    moderation.ban("user", "http", "alpha", moderator="mia", reason="spam")
    status, error = await submit(client, keys["alpha"], prompt="hello")
    assert status == 403 and error["error"] == "banned" and "spam" in error["message"]


@pytest.mark.parametrize("prompt", BYPASSES.values(), ids=BYPASSES.keys())
async def test_blocked_term_bypasses_are_refused(client: TestClient, keys: dict, db: Database, prompt: str) -> None:
    Moderation(db).block_term(BLOCKED, moderator="mia")
    for body in ({"prompt": prompt}, {"prompt": "fine", "negative_prompt": prompt}):
        status, error = await submit(client, keys["alpha"], **body)
        assert status == 422 and error["error"] == "blocked_term", body
    allowed = prompt.replace("d", "x").replace("ｄ", "ｘ")  # the same characters around a word that is not blocked
    status, job = await submit(client, keys["alpha"], prompt=allowed)
    assert status == 201 and job["prompt"] == allowed  # kept exactly as sent


async def test_queue_limit_answers_429_with_retry_after(client: TestClient, keys: dict, limits) -> None:  # noqa: ANN001
    for i in range(limits.per_requester):
        assert (await submit(client, keys["beta"], prompt=f"J{i}"))[0] == 201
    reply = await client.post(JOBS, json={"prompt": "ONE TOO MANY"}, headers=keys["beta"])
    assert reply.status == 429 and int(reply.headers["Retry-After"]) >= 1
    assert (await reply.json())["error"] == "queue_full"


async def test_unknown_routes_and_methods_answer_json(client: TestClient, keys: dict) -> None:
    reply = await client.get("/api/v1/nothing", headers=keys["alpha"])
    assert reply.status == 404 and (await reply.json())["error"] == "not_found"
    reply = await client.delete(JOBS, headers=keys["alpha"])
    assert reply.status == 405 and "POST" in reply.headers["Allow"]
