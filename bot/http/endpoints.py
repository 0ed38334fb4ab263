"""Declaring an API endpoint once: the same declaration routes, authenticates, validates and documents it.

Each endpoint names its pydantic models for path, query and body parameters and for its responses.
`Api.route` registers the handler; the wrapper it installs authenticates the API key, checks the scope
and the rate limit, and validates input with those models before the handler runs; `openapi.py` builds
the published document from the very same declarations, so the document and the handlers cannot drift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.http.errors import ApiError

P = TypeVar("P", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)
B = TypeVar("B", bound=BaseModel)

# Media types a success response may have besides a JSON model.
BINARY_IMAGE = "image/*"
EVENT_STREAM = "text/event-stream"
# No request body needs more than a few levels; the limit refuses documents deep enough to exhaust
# the parser's recursion (a few KB of brackets, well under the body size limit) before they are parsed.
MAX_JSON_DEPTH = 32
# A JSON string (its closing quote optional, so an unterminated one ends the scan in linear time) or a bracket.
_JSON_TOKEN = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?|[\[\]{}]', re.DOTALL)


@dataclass(frozen=True)
class ApiClient:
    """The authenticated caller: one API key of one client (several keys may share a client name)."""

    key_id: int
    client: str
    scopes: frozenset[str]
    rate_per_minute: float | None


@dataclass(frozen=True)
class Call(Generic[P, Q, B]):
    """What a handler receives: the caller and its validated parameters."""

    client: ApiClient
    path: P
    query: Q
    body: B


@dataclass(frozen=True)
class Response:
    """One documented response: a JSON model, or a non-JSON media type (`BINARY_IMAGE`, `EVENT_STREAM`)."""

    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    headers: tuple[str, ...] = ()


Handler = Callable[[web.Request, Call[Any, Any, Any]], Awaitable[web.StreamResponse]]
Guard = Callable[[web.Request, str], Awaitable[ApiClient]]


class _Empty(BaseModel):
    """Stands for "no parameters of this kind"; refuses any that are sent."""

    model_config = {"extra": "forbid"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    scope: str
    responses: dict[int, Response]
    path_model: type[BaseModel] = _Empty
    query_model: type[BaseModel] = _Empty
    body_model: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    def error_statuses(self) -> dict[int, str]:
        """The error answers the wrapper itself can give for this endpoint, with why."""
        statuses = {
            401: "Missing, malformed, unknown or revoked API key.",
            403: f"The API key lacks the `{self.scope}` scope.",
            429: "Rate limit exceeded; retry after `Retry-After` seconds.",
        }
        if self.path_model is not _Empty:
            statuses[404] = "No such resource, or a malformed identifier in the path."
        if self.query_model is not _Empty or self.body_model is not None:
            statuses[422] = "A parameter failed validation; `details` lists each field and why."
        if self.body_model is not None:
            statuses[400] = "The body is not a JSON document."
            statuses[413] = "The body is larger than the configured limit."
            statuses[415] = "The body is not `application/json`."
        return statuses


@dataclass
class Api:
    """The set of endpoints under one prefix; `guard` authenticates and rate-limits every call."""

    prefix: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        scope: str,
        responses: dict[int, Response],
        path_model: type[BaseModel] = _Empty,
        query_model: type[BaseModel] = _Empty,
        body_model: type[BaseModel] | None = None,
        tags: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(method, self.prefix + path, handler, summary, scope, responses, path_model, query_model, body_model, tags)
            )
            return handler

        return register

    def add_routes(self, app: web.Application, guard: Guard) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _wrap(endpoint, guard), name=endpoint.operation_id)


def _wrap(endpoint: Endpoint, guard: Guard) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            client = await guard(request, endpoint.scope)
            path = _validate(endpoint.path_model, dict(request.match_info), "path", status=404)
            query = _validate(endpoint.query_model, _single_values(request), "query", status=422)
            body = await _read_body(request, endpoint.body_model)
            return await endpoint.handler(request, Call(client, path, query, body))
        except ApiError as error:
            return error.response()

    handle.__name__ = endpoint.operation_id
    handle.__doc__ = endpoint.handler.__doc__
    return handle


def _single_values(request: web.Request) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in request.query.items():
        if name in values:
            raise ApiError(422, "validation_error", f"query parameter {name!r} is given more than once",
                           details=[{"loc": f"query.{name}", "msg": "given more than once"}])
        values[name] = value
    return values


def _validate(model: type[BaseModel], data: dict[str, Any], where: str, *, status: int) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _validation_error(error, model, where, status) from None


async def _read_body(request: web.Request, model: type[BaseModel] | None) -> BaseModel | None:
    if model is None:
        return None
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", f"send the body as application/json, not {request.content_type or 'nothing'}")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", f"the body may be at most {request.client_max_size} bytes") from None
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: it is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ApiError(422, "validation_error", "the body must be a JSON object",
                       details=[{"loc": "body", "msg": "must be a JSON object"}])
    try:
        # strict: a JSON string is never silently taken as a number, nor a number as a string.
        return model.model_validate(document, strict=True)
    except ValidationError as error:
        raise _validation_error(error, model, "body", 422) from None


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in `raw`, brackets inside strings not counted; checked before
    parsing because the parser recurses once per level and a few KB of brackets exhaust Python's stack."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be too deep: skip the scan for ordinary bodies
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(raw):
        opener = token.group()
        if opener in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif opener in (b"]", b"}"):
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity, which JSON does not have and no option can mean.
    raise ValueError(f"{name} is not a JSON number")


def _validation_error(error: ValidationError, model: type[BaseModel], where: str, status: int) -> ApiError:
    details = [
        {"loc": ".".join([where, *(str(part) for part in item["loc"])]), "msg": _message(item, model)}
        for item in error.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{d['loc']}: {d['msg']}" for d in details)
    code = "not_found" if status == 404 else "validation_error"
    return ApiError(status, code, summary, details=details)


def _message(item: Mapping[str, Any], model: type[BaseModel]) -> str:
    """Pydantic's message, except for an unknown name, where the caller needs the names that are allowed."""
    if item["type"] != "extra_forbidden":
        return item["msg"]
    for part in item["loc"][:-1]:  # down to the model that holds the unknown name
        field = model.model_fields.get(str(part))
        inner = field.annotation if field is not None else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return item["msg"]
        model = inner
    known = ", ".join(model.model_fields)
    return f"unknown name; allowed: {known}" if known else "unknown name; nothing may be given here"


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A response whose body is `model` serialized exactly as its OpenAPI schema says."""
    return web.Response(status=status, text=model.model_dump_json(), content_type="application/json", headers=headers)
