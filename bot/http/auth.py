"""The API's guard: who is calling (Bearer API key), may they (scope), and not too often (rate limit).

Order matters: an unauthenticated caller learns nothing (401 before anything else), and a key that
lacks a scope is refused before it spends rate-limit tokens on requests that could never succeed.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.http.accounts import authenticate_key
from bot.http.endpoints import ApiClient
from bot.http.errors import ApiError
from bot.http.services import services


async def api_guard(request: web.Request, scope: str) -> ApiClient:
    """The authenticated client of this request, or an ApiError (401, 403 or 429)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthenticated", "send an API key as `Authorization: Bearer <key>`",
                       headers={"WWW-Authenticate": 'Bearer realm="glyphbot"'})
    svc = services(request)
    client = await asyncio.to_thread(authenticate_key, svc.db, token.strip())
    if client is None:
        raise ApiError(401, "unauthenticated", "this API key is unknown or revoked",
                       headers={"WWW-Authenticate": 'Bearer realm="glyphbot", error="invalid_token"'})
    if scope not in client.scopes:
        raise ApiError(403, "forbidden", f"this API key lacks the `{scope}` scope (it has: {', '.join(sorted(client.scopes))})")
    wait = svc.api_limiter.take(client.key_id, client.rate_per_minute or svc.settings.rate_limit_per_minute)
    if wait is not None:
        raise ApiError(429, "rate_limited", f"too many requests for this API key; retry in {wait} s",
                       headers={"Retry-After": str(wait)})
    return client
