"""The OpenAPI 3.1 document of the JSON API, built from the endpoint declarations in `endpoints.py`.

Nothing here is written by hand per endpoint: parameters, bodies and responses come from the same
pydantic models that validate requests and serialize answers, so the published document cannot
disagree with what the handlers accept and return.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.http.endpoints import BINARY_IMAGE, EVENT_STREAM, Endpoint, _Empty
from bot.http.schemas import ErrorBody

REF_TEMPLATE = "#/components/schemas/{model}"

HEADER_DOCS = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 1}},
    "WWW-Authenticate": {"description": "How to authenticate: `Bearer`.", "schema": {"type": "string"}},
}


def build_openapi(endpoints: list[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    """The whole document for `endpoints`."""
    refs, definitions = _schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Submit text-in-image jobs, follow them, and fetch every candidate with its OCR reading."},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "An API key from `glyphbot apikey create NAME --scopes ...`."}},
        },
    }


def _schemas(endpoints: list[Endpoint]) -> tuple[dict[tuple[type[BaseModel], str], dict[str, Any]], dict[str, Any]]:
    """JSON schemas of every body model (validation mode) and response model (serialization mode)."""
    wanted: set[tuple[type[BaseModel], str]] = {(ErrorBody, "serialization")}
    for endpoint in endpoints:
        if endpoint.body_model is not None:
            wanted.add((endpoint.body_model, "validation"))
        for response in endpoint.responses.values():
            if response.model is not None:
                wanted.add((response.model, "serialization"))
    ordered = sorted(wanted, key=lambda item: (item[0].__name__, item[1]))
    refs, definitions = models_json_schema(ordered, ref_template=REF_TEMPLATE)
    return refs, definitions


def _parameters(model: type[BaseModel], location: str) -> list[dict[str, Any]]:
    if model is _Empty:
        return []
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": location, "required": location == "path" or name in required,
                                     "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _operation(endpoint: Endpoint, refs: dict[tuple[type[BaseModel], str], dict[str, Any]]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "description": (endpoint.handler.__doc__ or "").strip(),
        "tags": list(endpoint.tags),
        "security": [{"apiKey": []}],
        "x-required-scope": endpoint.scope,
        "parameters": _parameters(endpoint.path_model, "path") + _parameters(endpoint.query_model, "query"),
        "responses": {},
    }
    if endpoint.body_model is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(endpoint.body_model, "validation")]}},
        }
    error_ref = refs[(ErrorBody, "serialization")]
    for status, why in sorted(endpoint.error_statuses().items()):
        response: dict[str, Any] = {"description": why, "content": {"application/json": {"schema": error_ref}}}
        if status == 429:
            response["headers"] = {"Retry-After": HEADER_DOCS["Retry-After"]}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": HEADER_DOCS["WWW-Authenticate"]}
        operation["responses"][str(status)] = response
    for status, declared in sorted(endpoint.responses.items()):
        response = {"description": declared.description}
        if declared.media_type == EVENT_STREAM:
            assert declared.model is not None, "an event stream documents the model its update events carry"
            response["content"] = {EVENT_STREAM: {"schema": _event_schema(refs[(declared.model, "serialization")])}}
        elif declared.model is not None:
            response["content"] = {declared.media_type: {"schema": refs[(declared.model, "serialization")]}}
        elif declared.media_type == BINARY_IMAGE:
            response["content"] = {"image/png": {"schema": {"type": "string", "format": "binary"}},
                                   "image/webp": {"schema": {"type": "string", "format": "binary"}}}
        if declared.headers:
            response["headers"] = {name: HEADER_DOCS[name] for name in declared.headers}
        operation["responses"][str(status)] = response
    return operation


def _event_schema(update_ref: dict[str, Any]) -> dict[str, Any]:
    """One server-sent event (OpenAPI 3.1 reads `schema` of an event stream per event): `update` events
    carry the model as JSON; `timeout` and `error` events carry a message and end the stream."""

    def event(names: list[str], payload: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": ["event", "data"], "properties": {
            "event": {"enum": names},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": payload}}}

    message = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
    return {"oneOf": [event(["update"], update_ref), event(["timeout", "error"], message)]}
