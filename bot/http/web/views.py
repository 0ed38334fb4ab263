"""The moderator web app's pages and actions (under /mod/).

Pages are GET and change nothing; every action is a POST guarded by session + CSRF (see session.py),
goes through storage.moderation (which writes the audit entry in the same transaction), and answers
with a redirect back (303), so reloading a page never repeats an action.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.http import metrics, queries
from bot.http.accounts import create_session, end_session, verify_login
from bot.http.api import image_response
from bot.http.errors import ApiError
from bot.http.login_limits import client_address
from bot.http.services import services
from bot.http.web.charts import Series, bar_chart, line_chart
from bot.http.web.render import render
from bot.http.web.session import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Moderator,
    login_form,
    moderator_page,
    read_form,
    safe_next,
    same_origin,
    session_cookie,
    tokens_equal,
)
from storage.errors import JobNotFound, StyleNotFound
from storage.moderation import BAN_KINDS
from storage.types import JOB_STATUSES, SOURCES

_SHA = re.compile(r"[0-9a-f]{64}")
# Headings of a job page's image groups; other stages read "<stage> candidates".
STAGE_TITLES = {"gif": "Animation (the tween's result)", "frame": "Tween frames"}
routes = web.RouteTableDef()


def _redirect(target: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=safe_next(target))


# --- login / logout ----------------------------------------------------------------------------------


@routes.get(COOKIE_PATH + "/login")
async def login_page(request: web.Request) -> web.Response:
    return await login_form(request, next_path=request.query.get("next", ""))


@routes.post(COOKIE_PATH + "/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    svc = services(request)
    form = await read_form(request)
    next_path = str(form.get("next", ""))
    if not same_origin(request) or not tokens_equal(str(form.get("login_token", "")), request.cookies.get(LOGIN_COOKIE, "")):
        raise web.HTTPForbidden(text="the login form expired or came from another site; reload it and try again")
    name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))[:1024]
    address = client_address(request.remote or "unknown", request.headers.get("X-Forwarded-For"), svc.settings.trusted_proxies)
    wait = svc.login_limiter.refusal(address, name)
    moderator_id = None if wait is not None else await asyncio.to_thread(verify_login, svc.db, name, password)
    if moderator_id is None:
        wait = wait or svc.login_limiter.failed(address, name)
        if wait is not None:
            response = await login_form(request, status=429, error=f"Too many attempts; try again in {wait} s.", next_path=next_path)
            response.headers["Retry-After"] = str(wait)
            return response
        return await login_form(request, status=401, error="Wrong name or password.", next_path=next_path)
    svc.login_limiter.succeeded(address, name)
    token = await asyncio.to_thread(create_session, svc.db, moderator_id, dt.timedelta(hours=svc.settings.session_hours))
    response = _redirect(next_path)
    session_cookie(response, request, token)
    response.del_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@routes.post(COOKIE_PATH + "/logout")
@moderator_page
async def logout(request: web.Request, moderator: Moderator) -> web.StreamResponse:
    await asyncio.to_thread(end_session, services(request).db, moderator.session_token)
    response = web.HTTPSeeOther(location=COOKIE_PATH + "/login")
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


# --- dashboard -----------------------------------------------------------------------------------------


@routes.get(COOKIE_PATH + "/")
@moderator_page
async def dashboard_page(request: web.Request, moderator: Moderator) -> web.Response:
    return render(request, "dashboard.html", await _dashboard_context(request))


@routes.get(COOKIE_PATH + "/dashboard/panel")
@moderator_page
async def dashboard_panel(request: web.Request, moderator: Moderator) -> web.Response:
    """The live part of the dashboard alone; the page's script swaps it in every few seconds."""
    return render(request, "_dashboard_panel.html", await _dashboard_context(request))


async def _dashboard_context(request: web.Request) -> dict:
    board = await asyncio.to_thread(metrics.dashboard, services(request).db)
    labels = [f"{b.start:%H}h" for b in board.hours]
    accuracy = [None if not b.judged else 100.0 * b.exact / b.judged for b in board.hours]
    return {
        "board": board,
        "jobs_chart": bar_chart("Jobs finished per hour", labels, [b.finished for b in board.hours], " jobs"),
        "latency_chart": line_chart("Latency per hour", labels, [
            Series("p50", [b.p50_s for b in board.hours], "p50"), Series("p95", [b.p95_s for b in board.hours], "p95")], " s"),
        "accuracy_chart": bar_chart("Exact text, % of winners per hour", labels, accuracy, "%"),
    }


# --- history and jobs ----------------------------------------------------------------------------------


class HistoryQuery(BaseModel):
    """The history page's filters as typed in the form; empty fields are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    source: str = Field("", max_length=16)
    user: str = Field("", max_length=200)
    place: str = Field("", max_length=200)
    status: str = Field("", max_length=16)
    since: dt.date | None = None
    until: dt.date | None = None
    q: str = Field("", max_length=200)
    before_id: int | None = Field(None, ge=1, le=2**63 - 1)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _blank_date(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value and value not in SOURCES:
            raise ValueError(f"must be one of {', '.join(SOURCES)}")
        return value

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value and value not in JOB_STATUSES:
            raise ValueError(f"must be one of {', '.join(JOB_STATUSES)}")
        return value

    def to_filter(self) -> queries.HistoryFilter:
        def start_of(day: dt.date | None) -> dt.datetime | None:
            return None if day is None else dt.datetime.combine(day, dt.time(), dt.timezone.utc)

        until = None if self.until is None else start_of(self.until + dt.timedelta(days=1))  # the whole last day
        return queries.HistoryFilter(self.source, self.user, self.place, self.status, start_of(self.since), until, self.q)


@routes.get(COOKIE_PATH + "/history")
@moderator_page
async def history_page(request: web.Request, moderator: Moderator) -> web.Response:
    svc = services(request)
    try:
        query = HistoryQuery.model_validate(dict(request.query))
    except ValidationError as error:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False)]
        return render(request, "history.html", {"query": dict(request.query), "page": None, "errors": problems,
                                                "sources": SOURCES, "statuses": JOB_STATUSES}, status=400)
    page = await asyncio.to_thread(queries.search_history, svc.db, query.to_filter(),
                                   limit=svc.settings.history_page_size, before_id=query.before_id)
    params = query.model_dump(exclude={"before_id"}, exclude_none=True)
    return render(request, "history.html", {"query": params, "page": page, "errors": [],
                                            "sources": SOURCES, "statuses": JOB_STATUSES})


@routes.get(COOKIE_PATH + "/jobs/{job_id:\\d{1,18}}")
@moderator_page
async def job_page(request: web.Request, moderator: Moderator) -> web.Response:
    svc = services(request)
    job_id = int(request.match_info["job_id"])
    try:
        job = await svc.jobs.get(job_id)
    except JobNotFound:
        raise web.HTTPNotFound(text=f"no job {job_id}") from None
    images = await svc.jobs.images_of(job_id, include_hidden=True)
    ban = await asyncio.to_thread(svc.moderation.active_ban, job.source, job.requester_id)
    stages = list(dict.fromkeys(image.stage for image in images))  # in the order the renderer made them
    return render(request, "job.html", {"job": job, "images": images, "ban": ban, "stages": stages, "stage_titles": STAGE_TITLES})


def _sha(request: web.Request) -> str:
    sha = request.match_info["sha256"]
    if not _SHA.fullmatch(sha):
        raise web.HTTPNotFound(text="an image is named by its 64-digit lowercase hex SHA-256")
    return sha


@routes.get(COOKIE_PATH + "/images/{sha256}")
@moderator_page
async def image_file(request: web.Request, moderator: Moderator) -> web.Response:
    """Moderators see hidden images too (to review them); the hash is checked before any file is touched.
    An image the store lacks is the API's 404, told here as plain text like every other page's error."""
    try:
        return await image_response(services(request), _sha(request))
    except ApiError as error:
        return web.Response(status=error.status, text=error.message)


@routes.post(COOKIE_PATH + "/images/{sha256}/hide")
@moderator_page
async def hide_image(request: web.Request, moderator: Moderator) -> web.StreamResponse:
    return await _image_action(request, moderator, services(request).moderation.hide_image)


@routes.post(COOKIE_PATH + "/images/{sha256}/unhide")
@moderator_page
async def unhide_image(request: web.Request, moderator: Moderator) -> web.StreamResponse:
    return await _image_action(request, moderator, services(request).moderation.unhide_image)


async def _image_action(request: web.Request, moderator: Moderator, action: Callable[..., object]) -> web.StreamResponse:
    """Apply a hide/unhide form (audited under the moderator's name), then go back where the form said.
    A hash that no job made and nobody hid names no image: 404, so a typo is not audited as an action."""
    form, sha, svc = await read_form(request), _sha(request), services(request)
    owners = await asyncio.to_thread(queries.image_owners, svc.db, sha)
    if not owners.jobs and not owners.hidden:
        raise web.HTTPNotFound(text=f"no image {sha}")
    await asyncio.to_thread(action, sha, moderator=moderator.name, reason=str(form.get("reason", ""))[:500])
    raise _redirect(str(form.get("next", "")))


# --- bans and blocked terms ------------------------------------------------------------------------------


@routes.get(COOKIE_PATH + "/moderation")
@moderator_page
async def moderation_page(request: web.Request, moderator: Moderator) -> web.Response:
    mod = services(request).moderation
    bans, terms = await asyncio.gather(asyncio.to_thread(mod.bans), asyncio.to_thread(mod.blocked_terms))
    return render(request, "moderation.html", {"bans": bans, "terms": terms, "sources": SOURCES, "kinds": BAN_KINDS})


@routes.post(COOKIE_PATH + "/bans")
@moderator_page
async def ban(request: web.Request, moderator: Moderator) -> web.StreamResponse:
    form = await read_form(request)
    kind, source, subject = str(form.get("kind", "")), str(form.get("source", "")), str(form.get("subject", "")).strip()
    if kind not in BAN_KINDS:
        raise web.HTTPBadRequest(text=f"kind must be one of {', '.join(BAN_KINDS)}")
    if source not in SOURCES:
        raise web.HTTPBadRequest(text=f"source must be one of {', '.join(SOURCES)}")
    if not subject or len(subject) > 200:
        raise web.HTTPBadRequest(text="give the user id or place to ban (1 to 200 characters)")
    await asyncio.to_thread(services(request).moderation.ban, kind, source, subject, moderator=moderator.name,
                            reason=str(form.get("reason", ""))[:500])
    raise _redirect(str(form.get("next", "")) or COOKIE_PATH + "/moderation")


@routes.post(COOKIE_PATH + "/bans/{ban_id:\\d{1,18}}/lift")
@moderator_page
async def lift_ban(request: web.Request, moderator: Moderator) -> web.StreamResponse:
    form = await read_form(request)
    try:
        await asyncio.to_thread(services(request).moderation.lift_ban, int(request.match_info["ban_id"]),
                                moderator=moderator.name, reason=str(form.get("reason", ""))[:500])
    except LookupError as error:
        raise web.HTTPNotFound(text=str(error)) from None
    raise _redirect(str(form.get("next", "")) or COOKIE_PATH + "/moderation")


@routes.post(COOKIE_PATH + "/terms")
@moderator_page
async def block_term(request: web.Request, moderator: Moderator) -> web.StreamResponse:
    form = await read_form(request)
    term = str(form.get("term", ""))
    if not term.strip() or len(term) > 200:
        raise web.HTTPBadRequest(text="a blocked term must have 1 to 200 characters")
    await asyncio.to_thread(services(request).moderation.block_term, term, moderator=moderator.name,
                            reason=str(form.get("reason", ""))[:500])
    raise _redirect(COOKIE_PATH + "/moderation")


@routes.post(COOKIE_PATH + "/terms/remove")
@moderator_page
async def unblock_term(request: web.Request, moderator: Moderator) -> web.StreamResponse:
    form = await read_form(request)
    await asyncio.to_thread(services(request).moderation.unblock_term, str(form.get("term", ""))[:200],
                            moderator=moderator.name)
    raise _redirect(COOKIE_PATH + "/moderation")


# --- styles ----------------------------------------------------------------------------------------------


@routes.get(COOKIE_PATH + "/styles")
@moderator_page
async def styles_page(request: web.Request, moderator: Moderator) -> web.Response:
    records = await asyncio.to_thread(services(request).styles.list)
    return render(request, "styles.html", {"styles": records})


@routes.post(COOKIE_PATH + "/styles/{name:[a-z0-9_-]{1,32}}/delete")
@moderator_page
async def delete_style(request: web.Request, moderator: Moderator) -> web.StreamResponse:
    """Soft-delete a style (its file goes; the audit entry commits with the row); jobs that still name it
    fail with who deleted it and when."""
    form = await read_form(request)
    try:
        await asyncio.to_thread(services(request).styles.delete, request.match_info["name"], moderator.name,
                                str(form.get("reason", ""))[:500])
    except StyleNotFound as error:
        raise web.HTTPNotFound(text=str(error)) from None
    raise _redirect(COOKIE_PATH + "/styles")


# --- audit log -------------------------------------------------------------------------------------------


@routes.get(COOKIE_PATH + "/audit")
@moderator_page
async def audit_page(request: web.Request, moderator: Moderator) -> web.Response:
    before = request.query.get("before_id", "")
    if before and not (before.isdigit() and len(before) <= 18):
        raise web.HTTPBadRequest(text="before_id must be an audit entry id (up to 18 digits)")
    size = services(request).settings.history_page_size
    entries = await asyncio.to_thread(services(request).moderation.audit_log, limit=size + 1,
                                      before_id=int(before) if before else None)
    return render(request, "audit.html", {"entries": entries[:size],
                                          "next_before_id": entries[size - 1].id if len(entries) > size else None})
