"""JSON error responses of the API: one shape for every 4xx and 5xx, so clients parse errors one way.

`ApiError` is raised anywhere inside a handler; the endpoint wrapper turns it into a response whose
body is an `ErrorBody` (see `schemas.py`), the same model the OpenAPI document advertises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web


class ApiError(Exception):
    """An error answer: HTTP status, a stable machine code, a sentence for people, optional field details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Sequence[Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = [dict(d) for d in details]
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return web.Response(
            status=self.status, text=json.dumps(body), content_type="application/json", headers=self.headers
        )


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")
