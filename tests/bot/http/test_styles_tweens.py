"""Styles, reference pictures, boxes and tweens through the API; styles in the moderator app."""

from __future__ import annotations

import asyncio
import base64
import io
import re

from aiohttp.test_utils import TestClient
from PIL import Image

from bot.render.model_free import TextDrawingRenderer
from generation.types import RenderRequest
from storage.db import Database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.moderation import Moderation
from storage.styles import StyleStore
from storage.types import QueueLimits
from tests.bot.http.conftest import png
from tests.storage.fixtures import EXAMPLES, safetensors_blob

JOBS = "/api/v1/jobs"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def styles_of(db: Database, store: ImageStore) -> StyleStore:
    """The store the app uses: `styles/` beside the image store (create_app without settings)."""
    return StyleStore(db, store.root.parent / "styles")


async def submit(client: TestClient, headers: dict, **body) -> tuple[int, dict]:
    reply = await client.post(JOBS, json=body, headers=headers)
    return reply.status, await reply.json()


def render_one(db: Database, store: ImageStore) -> int:
    """Play the worker with the test renderer (frames and a GIF for a tween)."""
    queue = JobQueue(db, store, QueueLimits())
    [job] = queue.claim("test-worker", lease_s=60)
    queue.complete(job.id, "test-worker", TextDrawingRenderer().render(job.render_request(queue.load_init_image(job))))
    return job.id


async def test_bad_options_get_422_naming_what_is_wrong(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    styles = styles_of(db, store)
    styles.add("red", "alice", EXAMPLES, 10, 0.5, safetensors_blob(), "m")
    styles.delete("red", "mia")
    photo = b64(png("x", 64))
    cases = [
        (dict(prompt="OPEN", style="blue"), "there is no style 'blue'"),
        (dict(prompt="OPEN", style="red"), "style 'red' was deleted by mia on"),
        (dict(prompt="OPEN", kind="tween", end_prompt="OPEN"), "the tween's two ends are the same text"),
        (dict(prompt="OPEN", kind="tween"), "end prompt is empty"),
        (dict(prompt="OPEN", box=[0, 0, 10, 10]), "give the picture too"),
        (dict(prompt="OPEN", init_image=photo, box=[10, 10, 900, 50]), r"box 10,10,900,50 reaches past the picture's right edge \(64 px wide\)"),
        (dict(prompt="OPEN", style_image=b64(b"GIF89a-not-png")), "the style image is not a PNG file"),
    ]
    for body, message in cases:
        status, answer = await submit(client, keys["alpha"], **body)
        assert status == 422 and re.search(message, answer["message"]), (body, answer)
    for body, where in [(dict(prompt="OPEN", frames=1), "body.frames"), (dict(prompt="OPEN", style="Red!"), "body.style"),
                        (dict(prompt="OPEN", style_strength=0), "body.style_strength"),
                        (dict(prompt="OPEN", box=[1, 2, 3]), "body.box"), (dict(prompt="OPEN", style_image="***"), "body.style_image"),
                        (dict(prompt="OPEN", kind="morph"), "body.kind"), (dict(prompt="OPEN", style=None), "body.style")]:
        status, answer = await submit(client, keys["alpha"], **body)
        assert status == 422 and answer["details"][0]["loc"] == where, (body, answer)
    assert (await (await client.get(JOBS, headers=keys["alpha"])).json())["jobs"] == []


async def test_a_styled_job_in_a_box_is_kept_and_shown(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    styles_of(db, store).add("red", "alice", EXAMPLES, 10, 0.5, safetensors_blob(), "m")
    photo, reference = png("photo", 64), png("ref", 32)
    status, job = await submit(client, keys["alpha"], prompt="SALE", style="red", style_strength=0.7, style_image=b64(reference),
                               init_image=b64(photo), box=[4, 8, 40, 20])
    assert status == 201, job
    assert (job["kind"], job["style"], job["style_strength"], job["box"], job["frames"]) == ("imagine", "red", 0.7, [4, 8, 40, 20], None)
    assert store.read(job["style_image_sha256"]) == reference and store.read(job["init_image_sha256"]) == photo
    stored = JobQueue(db, store).get(job["id"])
    assert (stored.box_tuple, stored.strength) == ((4, 8, 40, 20), 0.75)


async def test_a_tween_job_answers_with_its_frames_and_gif(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    status, job = await submit(client, keys["alpha"], prompt="OPEN", kind="tween", end_prompt="CLOSED", frames=4)
    assert status == 201 and (job["kind"], job["end_prompt"], job["frames"]) == ("tween", "CLOSED", 4)
    await asyncio.to_thread(render_one, db, store)
    images = await (await client.get(f"{JOBS}/{job['id']}/images", headers=keys["alpha"])).json()
    assert [image["stage"] for image in images["candidates"]] == ["frame"] * 4 + ["gif"]
    assert images["winner"]["stage"] == "gif"
    reply = await client.get(images["winner"]["url"], headers=keys["alpha"])
    assert reply.status == 200 and reply.content_type == "image/gif"
    assert Image.open(io.BytesIO(await reply.read())).n_frames == 4


async def test_styles_are_listed_by_name_without_deleted_ones(client: TestClient, keys: dict, db: Database, store: ImageStore) -> None:
    styles = styles_of(db, store)
    for name in ("zinc", "amber", "gone"):
        styles.add(name, "alice", EXAMPLES, 20, 0.25, safetensors_blob(), "m", method="lora" if name == "zinc" else "vectors")
    styles.delete("gone", "mia")
    reply = await client.get("/api/v1/styles", headers=keys["alpha_read"])
    assert reply.status == 200
    listed = (await reply.json())["styles"]
    assert [(style["name"], style["method"]) for style in listed] == [("amber", "vectors"), ("zinc", "lora")]
    assert (listed[0]["creator"], listed[0]["steps"], listed[0]["loss"], listed[0]["examples"]) == ("alice", 20, 0.25, 5)
    assert (await client.get("/api/v1/styles", headers=keys["alpha_submit"])).status == 403
    assert (await client.get("/api/v1/styles")).status == 401


async def test_moderators_list_and_delete_styles_with_csrf_and_audit(client: TestClient, moderator: str, db: Database,
                                                                     store: ImageStore) -> None:
    styles = styles_of(db, store)
    styles.add("red", "alice", EXAMPLES, 321, 0.0625, safetensors_blob(), "m", method="lora")
    page = await (await client.get("/mod/styles")).text()
    assert "<code>red</code>" in page and "alice" in page and "321" in page and "0.0625" in page
    assert "<th>Method</th>" in page and "<td>lora</td>" in page
    refused = await client.post("/mod/styles/red/delete", data={"csrf_token": "forged", "reason": "x"}, allow_redirects=False)
    assert refused.status == 403 and styles.get("red")
    reply = await client.post("/mod/styles/red/delete", data={"csrf_token": moderator, "reason": "logo"}, allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == "/mod/styles"
    assert styles.get("red", include_deleted=True).deleted_by == "mia" and not styles.path("red").exists()
    [entry] = Moderation(db).audit_log()
    assert (entry.moderator, entry.action, entry.target, entry.detail["reason"]) == ("mia", "style.delete", "style:red", "logo")
    assert "No styles." in await (await client.get("/mod/styles")).text()
    missing = await client.post("/mod/styles/blue/delete", data={"csrf_token": moderator}, allow_redirects=False)
    assert missing.status == 404


async def test_the_job_page_shows_a_tweens_gif_and_a_jobs_style_and_box(client: TestClient, moderator: str, db: Database,
                                                                        store: ImageStore) -> None:
    styles_of(db, store).add("red", "alice", EXAMPLES, 10, 0.5, safetensors_blob(), "m")
    queue = JobQueue(db, store, QueueLimits(), styles=styles_of(db, store))
    from storage.types import JobSubmission

    tween = queue.submit(JobSubmission(RenderRequest(prompt="OPEN", kind="tween", end_prompt="SHUT", frames=3), "cli", "u"))
    await asyncio.to_thread(render_one, db, store)
    page = await (await client.get(f"/mod/jobs/{tween.id}")).text()
    assert "Animation (the tween&#39;s result)" in page and "Tween frames" in page and "3 frames to" in page and "SHUT" in page
    gif = next(image for image in queue.images_of(tween.id) if image.stage == "gif")
    assert f'/mod/images/{gif.sha256}' in page
    styled = queue.submit(JobSubmission(RenderRequest(prompt="SALE", style="red", init_image_png=png("p", 64), box=(1, 2, 30, 20)),
                                        "cli", "u"))
    page = await (await client.get(f"/mod/jobs/{styled.id}")).text()
    assert "<code>red</code>" in page and "x, y, w, h = 1,2,30,20" in page and f"/mod/images/{styled.init_image_hash}" in page
