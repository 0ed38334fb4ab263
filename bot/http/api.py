"""The JSON API under /api/v1: submit, status, wait, events, images, cancel, list, and image bytes.

Jobs belong to a client (the NAME of `glyphbot apikey create NAME`): a key sees the jobs of its own
client only, unless it has the `moderate` scope. Another client's job answers 404 exactly like a job
that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json

from aiohttp import web

from bot.http import queries
from bot.http.endpoints import BINARY_IMAGE, EVENT_STREAM, Api, ApiClient, Call, Response, json_response
from bot.http.errors import ApiError, not_found
from bot.http.schemas import (
    ImagePath,
    ImageView,
    JobImages,
    JobList,
    OPTION_FIELDS,
    JobOptions,
    JobPath,
    JobView,
    ListQuery,
    Progress,
    StyleList,
    StyleView,
    SubmitJob,
    WaitQuery,
)
from bot.http.services import Services, services
from generation.request_options import asked
from generation.types import RenderRequest
from ocr.transcripts import TranscriptFormatError, image_blocks
from storage.errors import (
    BlockedTermFound,
    DatabaseUnavailable,
    InvalidJob,
    JobNotFound,
    QueueLimitReached,
    RequesterBanned,
)
from storage.types import NO_WORKER, Job, JobFilter, JobSubmission, JobUpdate, StoredImage
from storage.validation import same_request

PREFIX = "/api/v1"
SOURCE = "http"
api = Api(PREFIX)

_JOB = {200: Response("The job.", JobView)}


# --- helpers -------------------------------------------------------------------------------------------


def _storage_key(client: ApiClient, key: str) -> str:
    # Namespaced so two clients choosing the same key never collide, and so other adapters' keys cannot be reached.
    return f"{SOURCE}:{client.client}:{key}"


def _visible(client: ApiClient, job: Job) -> bool:
    return "moderate" in client.scopes or (job.source == SOURCE and job.requester_id == client.client)


async def _job_for(svc: Services, client: ApiClient, job_id: int) -> Job:
    try:
        job = await svc.jobs.get(job_id)
    except JobNotFound:
        raise not_found(f"job {job_id}") from None
    if not _visible(client, job):
        raise not_found(f"job {job_id}")
    return job


def _links(request: web.Request, job_id: int) -> dict[str, str]:
    base = f"{PREFIX}/jobs/{job_id}"
    return {"self": base, "wait": f"{base}/wait", "events": f"{base}/events", "images": f"{base}/images", "cancel": f"{base}/cancel"}


def job_view(request: web.Request, update: JobUpdate) -> JobView:
    job, eta = update.job, update.eta
    prefix = f"{SOURCE}:{job.requester_id}:"
    client_key = job.idempotency_key[len(prefix):] if job.idempotency_key and job.idempotency_key.startswith(prefix) else None
    progress = None
    if job.status == "running" and job.progress_stage is not None:
        progress = Progress(stage=job.progress_stage, step=job.progress_step, total=job.progress_total)
    return JobView(
        id=job.id, status=job.status, prompt=job.prompt, negative_prompt=job.negative_prompt,
        options=JobOptions(**{field: getattr(job, name) for field, name in OPTION_FIELDS.items()}),
        kind=job.kind, end_prompt=job.end_prompt, frames=job.frames, style=job.style, style_strength=job.style_strength,
        style_image_sha256=job.style_image_hash, init_image_sha256=job.init_image_hash,
        box=None if job.box_tuple is None else list(job.box_tuple),
        idempotency_key=client_key, place=job.place,
        created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
        queue_position=update.position, eta_seconds=None if eta is None else round(eta.total_seconds(), 1),
        workers_alive=update.workers, notice=NO_WORKER if update.workers == 0 else None,
        progress=progress, error=job.error, links=_links(request, job.id),
    )


async def _current_view(request: web.Request, svc: Services, job: Job) -> JobView:
    if job.done:
        return job_view(request, JobUpdate(job))
    position, eta, workers = await asyncio.gather(svc.jobs.position(job.id), svc.jobs.eta(job.id), svc.jobs.live_workers())
    return job_view(request, JobUpdate(job, position, eta, workers=workers if job.status == "queued" else None))


def _prompt_of(body: SubmitJob) -> str:
    if body.prompt is not None:
        return body.prompt
    assert body.transcript is not None  # the model requires one of the two
    try:
        blocks = image_blocks(body.transcript, strict=True)
    except TranscriptFormatError as error:
        raise _field_error("body.transcript", f"malformed transcript: {error}") from None
    if len(blocks) != 1:
        raise _field_error("body.transcript", f"the transcript must hold exactly one `=======` image block, not {len(blocks)}")
    return blocks[0].text


def render_request_of(body: SubmitJob, defaults: RenderRequest) -> RenderRequest:
    """The generation request a submission stands for: the options it gives over the server's `defaults`
    (`[generation]`), pictures decoded; storage validates the rest."""
    given = body.options.model_dump(include=body.options.model_fields_set)
    return asked(
        defaults, _prompt_of(body), **{OPTION_FIELDS[field]: value for field, value in given.items()},
        negative_prompt=body.negative_prompt, kind=body.kind, end_prompt=body.end_prompt, frames=body.frames,
        style=body.style, style_strength=body.style_strength, style_image_png=_picture(body.style_image, "style_image"),
        init_image_png=_picture(body.init_image, "init_image"), strength=body.strength,
        box=None if body.box is None else (body.box[0], body.box[1], body.box[2], body.box[3]),
    )


def _picture(encoded: str | None, name: str) -> bytes | None:
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _field_error(f"body.{name}", "not standard base64 (A-Z, a-z, 0-9, +, /, padded with =)") from None


def _field_error(loc: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", f"{loc}: {message}", details=[{"loc": loc, "msg": message}])


# --- endpoints ---------------------------------------------------------------------------------------


@api.route("POST", "/jobs", summary="Submit a job", scope="submit", body_model=SubmitJob, tags=("jobs",), responses={
    201: Response("Queued.", JobView),
    200: Response("A job with this idempotency key already exists; it is returned unchanged.", JobView),
    409: Response("This idempotency key was used for a different request.", None),
})
async def submit_job(request: web.Request, call: Call) -> web.Response:
    """Queue a job. Resubmitting the same `idempotency_key` returns the first job (200) instead of a new one."""
    svc, body, client = services(request), call.body, call.client
    render = render_request_of(body, svc.defaults)
    key = _storage_key(client, body.idempotency_key) if body.idempotency_key else None
    if key is not None:
        existing = await svc.jobs.get_by_key(key)
        if existing is not None:
            if not same_request(existing, render):
                raise ApiError(409, "idempotency_conflict", "this idempotency key was already used for a different request")
            return json_response(await _current_view(request, svc, existing), 200)
    submission = JobSubmission(request=render, source=SOURCE, requester_id=client.client, requester_name=client.client,
                               place=body.place, idempotency_key=key)
    try:
        job = await svc.jobs.submit(submission)
    except InvalidJob as error:
        raise ApiError(422, "invalid_job", str(error)) from None
    except BlockedTermFound as error:
        raise ApiError(422, "blocked_term", str(error)) from None
    except RequesterBanned as error:
        raise ApiError(403, "banned", str(error)) from None
    except QueueLimitReached as error:
        raise ApiError(429, "queue_full", str(error), headers={"Retry-After": "10"}) from None
    view = await _current_view(request, svc, job)
    return json_response(view, 201, headers={"Location": view.links["self"]})


@api.route("GET", "/jobs", summary="List your jobs", scope="read", query_model=ListQuery, tags=("jobs",),
           responses={200: Response("Newest first.", JobList)})
async def list_jobs(request: web.Request, call: Call) -> web.Response:
    """This client's jobs, newest first; page with `before_id`."""
    svc, query = services(request), call.query
    page = await svc.jobs.list(JobFilter(source=SOURCE, requester_id=call.client.client,
                                         status=[query.status] if query.status else None),
                               limit=query.limit, before_id=query.before_id)
    views = [await _current_view(request, svc, job) for job in page.jobs]
    return json_response(JobList(jobs=views, next_before_id=page.next_before_id))


@api.route("GET", "/jobs/{job_id}", summary="Job status", scope="read", path_model=JobPath, tags=("jobs",), responses=_JOB)
async def get_job(request: web.Request, call: Call) -> web.Response:
    """Status, queue position (1 = next to run), estimated seconds to completion, and progress."""
    svc = services(request)
    job = await _job_for(svc, call.client, call.path.job_id)
    return json_response(await _current_view(request, svc, job))


@api.route("GET", "/jobs/{job_id}/wait", summary="Wait for a job (long poll)", scope="read", path_model=JobPath,
           query_model=WaitQuery, tags=("jobs",), responses={200: Response("The job once done, or its status at the time limit.", JobView)})
async def wait_job(request: web.Request, call: Call) -> web.Response:
    """Answer when the job is done or after `timeout` seconds, whichever is first; check `status`."""
    svc = services(request)
    job = await _job_for(svc, call.client, call.path.job_id)
    timeout = min(call.query.timeout, svc.settings.wait_max_seconds)
    try:
        job = await svc.jobs.wait(job.id, timeout)
    except TimeoutError:
        job = await svc.jobs.get(job.id)
    return json_response(await _current_view(request, svc, job))


@api.route("GET", "/jobs/{job_id}/events", summary="Follow a job (server-sent events)", scope="read", path_model=JobPath,
           tags=("jobs",), responses={200: Response("`update` events carrying a JobView; the stream ends when the job is done "
                                                    "(or with a `timeout` event).", JobView, EVENT_STREAM)})
async def job_events(request: web.Request, call: Call) -> web.StreamResponse:
    """A `text/event-stream` of `update` events (JSON JobView) whenever status, position or progress changes."""
    svc = services(request)
    job = await _job_for(svc, call.client, call.path.job_id)
    stream = web.StreamResponse(headers={"Content-Type": EVENT_STREAM, "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await stream.prepare(request)
    try:
        async with asyncio.timeout(svc.settings.wait_max_seconds):
            async for update in svc.jobs.watch(job.id):
                await stream.write(_event("update", job_view(request, update).model_dump_json()))
    except TimeoutError:
        await stream.write(_event("timeout", json.dumps({"message": "stream time limit reached; reconnect to keep following"})))
    except DatabaseUnavailable as error:
        await stream.write(_event("error", json.dumps({"message": str(error)})))
    await stream.write_eof()
    return stream


def _event(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


@api.route("GET", "/jobs/{job_id}/images", summary="A job's images", scope="read", path_model=JobPath, tags=("images",),
           responses={200: Response("The winner and every candidate with OCR reading and score.", JobImages)})
async def job_images(request: web.Request, call: Call) -> web.Response:
    """Every candidate of both stages with what OCR read and its score; `winner` is the chosen one."""
    svc = services(request)
    job = await _job_for(svc, call.client, call.path.job_id)
    stored = await svc.jobs.images_of(job.id, include_hidden=True)
    views = [_image_view(image, "moderate" in call.client.scopes) for image in stored]
    winner = next((view for view, image in zip(views, stored, strict=True) if image.chosen), None)
    return json_response(JobImages(job_id=job.id, status=job.status, winner=winner, candidates=views))


def _image_view(image: StoredImage, see_hidden: bool) -> ImageView:
    url = None if image.hidden and not see_hidden else f"{PREFIX}/images/{image.sha256}"
    return ImageView(sha256=image.sha256, url=url, stage=image.stage, seed=image.seed, width=image.width, height=image.height,
                     ocr_text=image.ocr_text, ocr_score=image.ocr_score, chosen=image.chosen, hidden=image.hidden)


@api.route("GET", "/images/{sha256}", summary="Image bytes", scope="read", path_model=ImagePath, tags=("images",), responses={
    200: Response("The image file.", None, BINARY_IMAGE),
    410: Response("Moderators hid this image.", None),
})
async def get_image(request: web.Request, call: Call) -> web.Response:
    """The file with this content hash, if it belongs to one of your jobs."""
    svc, sha = services(request), call.path.sha256
    owners = await asyncio.to_thread(queries.image_owners, svc.db, sha)
    moderator = "moderate" in call.client.scopes
    if not any(moderator or (source == SOURCE and requester == call.client.client) for source, requester in owners.jobs):
        raise not_found("image")
    if owners.hidden and not moderator:
        raise ApiError(410, "hidden", "moderators hid this image")
    return await image_response(svc, sha)


async def image_response(svc: Services, sha256: str) -> web.Response:
    """The bytes of a stored image, cached forever (the URL names the content)."""
    try:
        data = await asyncio.to_thread(svc.images.read, sha256)
    except LookupError:
        raise not_found("image file") from None
    content_type = "image/webp" if data[8:12] == b"WEBP" else "image/gif" if data[:4] == b"GIF8" else "image/png"
    return web.Response(body=data, content_type=content_type, headers={
        "Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{sha256}"', "X-Content-Type-Options": "nosniff"})


@api.route("POST", "/jobs/{job_id}/cancel", summary="Cancel a job", scope="submit", path_model=JobPath, tags=("jobs",),
           responses={200: Response("The job after cancelling; a job that had already finished is returned unchanged.", JobView)})
async def cancel_job(request: web.Request, call: Call) -> web.Response:
    """Cancel a queued or running job. Cancelling a finished job changes nothing."""
    svc = services(request)
    job = await _job_for(svc, call.client, call.path.job_id)
    job = await svc.jobs.cancel(job.id, f"cancelled by API client {call.client.client}")
    return json_response(await _current_view(request, svc, job))


@api.route("GET", "/styles", summary="Learned styles", scope="read", tags=("styles",),
           responses={200: Response("Every style a job may name, sorted by name.", StyleList)})
async def list_styles(request: web.Request, call: Call) -> web.Response:
    """The styles a job may ask for in `style` (deleted ones are left out)."""
    records = await asyncio.to_thread(services(request).styles.list)
    return json_response(StyleList(styles=[
        StyleView(name=r.name, method=r.method, creator=r.creator, created_at=r.created_at, steps=r.steps, loss=r.loss,
                  examples=len(r.example_hashes))
        for r in records]))
