"""A loopback Discord: enough of the REST API and the gateway for the real discord.py client.

The tests run the real `commands.Bot` against this server instead of mocking discord.py, so that
what we assert on is what Discord would have received: interaction callbacks, webhook edits with
multipart attachments, channel messages, command syncs. Everything the bot sends is recorded in
`FakeDiscord.requests`.

Knobs that reproduce Discord's sharp edges:
- `rate_limit(...)`: the next N matching requests answer 429 with `retry_after` (and the `Via`
  header, without which discord.py treats a 429 as a Cloudflare ban);
- `expire_token(token)`: webhook calls with that interaction token answer 401 code 50027, like a
  token past its 15 minutes;
- `deny_channel(id)` / `delete_channel(id)`: 403 Missing Permissions / 404 Unknown Channel;
- `drop_gateway()`: closes the websocket so the client resumes; events dispatched meanwhile are
  replayed on RESUME, as Discord does; `invalidate_sessions()` makes that RESUME fail, so the
  client identifies anew.

discord.py 2.7 builds every REST URL from `discord.http.Route.BASE` (the webhook module reuses the
same Route) and connects the gateway to `DiscordWebSocket.DEFAULT_GATEWAY` without asking
`/gateway/bot`; `patched()` points both here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import aiohttp
import yarl
from aiohttp import web

import discord
import discord.gateway
import discord.http
from discord.utils import time_snowflake

API_PREFIX = "/api/v10"
UPLOAD_LIMIT = 10 * 1024 * 1024
ADMINISTRATOR = 1 << 3
MANAGE_MESSAGES = 1 << 13
DEFAULT_MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 31)  # view channel, send messages, use app commands


@dataclass
class RecordedRequest:
    """One REST call the bot made, with its JSON payload and any uploaded files already parsed."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[tuple[str, str, bytes]]  # (filename, content type, bytes)
    status: int = 0
    at: float = field(default_factory=time.monotonic)

    def matches(self, method: str, pattern: str) -> bool:
        return self.method == method and re.fullmatch(pattern, self.path) is not None


@dataclass
class FakeUser:
    id: int
    name: str
    roles: list[int] = field(default_factory=list)
    permissions: int = DEFAULT_MEMBER_PERMISSIONS

    def user_payload(self, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    def member_payload(self) -> dict[str, Any]:
        return {
            "user": self.user_payload(),
            "roles": [str(r) for r in self.roles],
            "joined_at": "2025-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "pending": False,
            "permissions": str(self.permissions),
        }


@dataclass
class FakeInteraction:
    """An interaction we dispatched, and how the bot answered it."""

    id: int
    token: str
    created_at: float
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False
    channel_id: int = 0
    message_id: int | None = None  # the message whose component was used, for UPDATE_MESSAGE

    @property
    def first_callback_at(self) -> float | None:
        return self.callbacks[0]["at"] if self.callbacks else None


@dataclass
class _RateLimitRule:
    method: str
    pattern: str
    remaining: int
    retry_after: float
    is_global: bool


class FakeDiscord:
    """The server; one guild with one text channel, a bot user, and users tests can act as."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.application_id = self.snowflake()
        self.bot_user = FakeUser(self.application_id, "glyphbot")
        self.guild_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.moderator_role_id = self.snowflake()
        self.users: dict[int, FakeUser] = {}
        self.requests: list[RecordedRequest] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.interactions: dict[str, FakeInteraction] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.command_overwrites = 0
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.upload_limit = UPLOAD_LIMIT  # stated in each interaction and enforced on uploads, as Discord does
        self.denied_channels: set[int] = set()
        self.deleted_channels: set[int] = set()
        self._rate_limits: list[_RateLimitRule] = []
        self._sockets: list[web.WebSocketResponse] = []
        # One zlib stream per connection that asked for compress=zlib-stream, as Discord keeps one per session.
        self._compressors: dict[web.WebSocketResponse, Any] = {}
        self.gateway_compression: list[str | None] = []  # what each connection asked for
        self.compressed_frames = 0
        self._sessions: dict[str, list[dict[str, Any]]] = {}
        self._seq = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.identify_count = 0
        self.identified_intents: int | None = None
        self.resume_count = 0
        self._cdn: dict[str, bytes] = {}

    # ----------------------------------------------------------------- lifecycle

    def snowflake(self, at: dt.datetime | None = None) -> int:
        """A real-looking snowflake, so discord.py's `created_at` (and token expiry) come out right."""
        return time_snowflake(at or discord.utils.utcnow()) + next(self._ids)

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{tail:.*}", self._serve_cdn)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway at this server for the duration."""
        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.base_url + API_PREFIX
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.base_url.replace("http", "ws", 1) + "/gateway")
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # ----------------------------------------------------------------- people and knobs

    def add_user(self, name: str, *, moderator: bool = False) -> FakeUser:
        user = FakeUser(self.snowflake(), name)
        if moderator:
            user.roles.append(self.moderator_role_id)
            user.permissions |= MANAGE_MESSAGES | ADMINISTRATOR
        self.users[user.id] = user
        return user

    def rate_limit(self, method: str, pattern: str, *, times: int = 1, retry_after: float = 0.3, is_global: bool = False) -> None:
        """The next `times` requests matching `method` and the path regex answer 429."""
        self._rate_limits.append(_RateLimitRule(method, pattern, times, retry_after, is_global))

    def expire_token(self, token: str) -> None:
        self.interactions[token].expired = True

    def deny_channel(self, channel_id: int) -> None:
        self.denied_channels.add(channel_id)

    def delete_channel(self, channel_id: int) -> None:
        self.deleted_channels.add(channel_id)

    async def drop_gateway(self) -> None:
        """Close every gateway socket with a resumable code, as a network blip would."""
        for ws in list(self._sockets):
            await ws.close(code=4000, message=b"test drop")

    async def invalidate_sessions(self) -> None:
        """Forget every session, then drop the sockets: the client's RESUME gets INVALID_SESSION and
        it must IDENTIFY again, as after a long outage on Discord's side."""
        self._sessions.clear()
        await self.drop_gateway()

    # ----------------------------------------------------------------- waiting and assertions

    def calls(self, method: str, pattern: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.matches(method, pattern)]

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until `predicate()` is truthy: re-checked whenever the server records something, and every
        50 ms for predicates about state outside the server (the database)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not (value := predicate()):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.05):
                            await self._changed.wait()
                return value

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def messages_in(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        channel_id = channel_id or self.channel_id
        return [m for m in self.messages.values() if int(m["channel_id"]) == channel_id]

    # ----------------------------------------------------------------- interactions the tests send

    def _base_interaction(self, kind: int, user: FakeUser, *, created: dt.datetime | None, dm: bool) -> tuple[dict[str, Any], FakeInteraction]:
        interaction_id = self.snowflake(created)
        token = f"tok-{interaction_id}"
        record = FakeInteraction(interaction_id, token, time.monotonic(), channel_id=self.channel_id)
        self.interactions[token] = record
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": self.upload_limit,
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "app_permissions": str((1 << 53) - 1),
        }
        if dm:
            dm_channel = self.snowflake()
            record.channel_id = dm_channel
            payload.update(
                context=1,
                user=user.user_payload(),
                channel={"id": str(dm_channel), "type": 1, "recipients": [user.user_payload()]},
                channel_id=str(dm_channel),
            )
        else:
            payload.update(
                context=0,
                guild_id=str(self.guild_id),
                guild={"id": str(self.guild_id), "locale": "en-US", "features": []},
                channel_id=str(self.channel_id),
                channel={"id": str(self.channel_id), "type": 0, "guild_id": str(self.guild_id), "name": "art", "position": 0, "permission_overwrites": [], "nsfw": False},
                member=user.member_payload(),
            )
        return payload, record

    async def slash(
        self,
        user: FakeUser,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        attachments: dict[str, tuple[str, str, bytes]] | None = None,
        created: dt.datetime | None = None,
        dm: bool = False,
        subcommand: str | None = None,
        too_late: bool = False,
    ) -> FakeInteraction:
        """Dispatch a chat-input command (`/name subcommand ...` when given).
        `attachments` maps option name -> (filename, type, bytes); FakeUser values become user options.
        `too_late`: Discord already gave up on it (its 3 s passed), so every answer gets 404 Unknown interaction."""
        payload, record = self._base_interaction(2, user, created=created, dm=dm)
        record.expired = too_late
        option_list: list[dict[str, Any]] = []
        resolved: dict[str, Any] = {}
        for key, value in (options or {}).items():
            if isinstance(value, FakeUser):
                resolved.setdefault("users", {})[str(value.id)] = value.user_payload()
                member = value.member_payload()
                member.pop("user")
                resolved.setdefault("members", {})[str(value.id)] = member
                option_list.append({"name": key, "type": 6, "value": str(value.id)})
            else:
                option_list.append({"name": key, "type": _option_type(value), "value": value})
        for key, (filename, content_type, data) in (attachments or {}).items():
            attachment_id = self.snowflake()
            url = f"{self.base_url}/cdn/{attachment_id}/{filename}"
            self._cdn[url] = data
            resolved.setdefault("attachments", {})[str(attachment_id)] = {
                "id": str(attachment_id), "filename": filename, "size": len(data), "url": url,
                "proxy_url": url, "content_type": content_type,
            }
            option_list.append({"name": key, "type": 11, "value": str(attachment_id)})
        if subcommand is not None:
            option_list = [{"name": subcommand, "type": 1, "options": option_list}]
        payload["data"] = {"id": str(self.snowflake()), "name": name, "type": 1, "options": option_list, "resolved": resolved}
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def autocomplete(self, user: FakeUser, name: str, options: dict[str, Any], focused: str) -> FakeInteraction:
        """Dispatch an autocomplete interaction (type 4), as Discord sends while `focused` is being typed;
        the bot answers with a callback of type 8 whose data holds the choices."""
        payload, record = self._base_interaction(4, user, created=None, dm=False)
        option_list = [
            {"name": key, "type": _option_type(value), "value": value, **({"focused": True} if key == focused else {})}
            for key, value in options.items()
        ]
        payload["data"] = {"id": str(self.snowflake()), "name": name, "type": 1, "options": option_list}
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def message_command(self, user: FakeUser, name: str, message_id: int) -> FakeInteraction:
        """Dispatch a message context-menu command (right-click > Apps > name) on a message."""
        payload, record = self._base_interaction(2, user, created=None, dm=False)
        payload["data"] = {
            "id": str(self.snowflake()), "name": name, "type": 3, "target_id": str(message_id),
            "resolved": {"messages": {str(message_id): self.messages[message_id]}},
        }
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def click(self, user: FakeUser, message_id: int, custom_id: str, *, created: dt.datetime | None = None) -> FakeInteraction:
        """Press a button on a message the bot sent."""
        payload, record = self._base_interaction(3, user, created=created, dm=False)
        payload["message"] = self.messages[message_id]
        record.message_id = message_id
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def submit_modal(self, user: FakeUser, custom_id: str, values: dict[str, str]) -> FakeInteraction:
        """Submit a modal the bot opened; `values` maps text input custom_id -> text."""
        payload, record = self._base_interaction(5, user, created=None, dm=False)
        payload["data"] = {
            "custom_id": custom_id,
            "components": [
                {"type": 18, "id": index + 1, "component": {"type": 4, "custom_id": key, "value": value}}
                for index, (key, value) in enumerate(values.items())
            ],
        }
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    # ----------------------------------------------------------------- gateway

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH to every session; kept so a session that resumes gets it too."""
        self._seq += 1
        frame = {"op": 0, "t": event, "s": self._seq, "d": data}
        for events in self._sessions.values():
            events.append(frame)
        for ws in list(self._sockets):
            if not ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._send(ws, frame)

    def _ready_frames(self, session_id: str) -> list[dict[str, Any]]:
        gateway_url = self.base_url.replace("http", "ws", 1) + "/gateway"
        ready = {
            "v": 10,
            "user": {**self.bot_user.user_payload(bot=True), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": session_id,
            "resume_gateway_url": gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        guild = {
            "id": str(self.guild_id),
            "name": "Glyph Test Guild",
            "owner_id": str(next(iter(self.users), self.application_id)),
            "unavailable": False,
            "member_count": 1 + len(self.users),
            "large": False,
            "roles": [
                {"id": str(self.guild_id), "name": "@everyone", "permissions": str(DEFAULT_MEMBER_PERMISSIONS), "position": 0,
                 "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0},
                {"id": str(self.moderator_role_id), "name": "moderators", "permissions": str(MANAGE_MESSAGES | ADMINISTRATOR),
                 "position": 1, "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0},
            ],
            "channels": [
                {"id": str(self.channel_id), "type": 0, "name": "art", "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None},
            ],
            "members": [{**self.bot_user.member_payload(), "user": self.bot_user.user_payload(bot=True)}]
            + [u.member_payload() for u in self.users.values()],
            "threads": [], "presences": [], "voice_states": [], "emojis": [], "stickers": [], "features": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
            "premium_tier": 0, "preferred_locale": "en-US", "joined_at": "2025-01-01T00:00:00+00:00",
        }
        return [{"op": 0, "t": "READY", "d": ready}, {"op": 0, "t": "GUILD_CREATE", "d": guild}]

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        compression = request.query.get("compress")
        self.gateway_compression.append(compression)
        if compression == "zlib-stream":
            self._compressors[ws] = zlib.compressobj()
        self._sockets.append(ws)
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": 41250}})
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    await self._send(ws, {"op": 11})
                elif op == 2:
                    self.identify_count += 1
                    self.identified_intents = frame["d"]["intents"]
                    session_id = f"session-{self.snowflake()}"
                    self._sessions[session_id] = []
                    for ready_frame in self._ready_frames(session_id):
                        self._seq += 1
                        await self._send(ws, {**ready_frame, "s": self._seq})
                elif op == 6:
                    await self._resume(ws, frame["d"])
        finally:
            self._sockets.remove(ws)
            self._compressors.pop(ws, None)
        return ws

    async def _send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        """One gateway frame: JSON text, or with zlib-stream a binary message holding the next piece of the
        connection's one zlib stream, ended by a sync flush (the 00 00 ff ff suffix clients wait for)."""
        compressor = self._compressors.get(ws)
        if compressor is None:
            await ws.send_json(frame)
            return
        data = json.dumps(frame).encode()
        await ws.send_bytes(compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))
        self.compressed_frames += 1

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        events = self._sessions.get(data.get("session_id", ""))
        if events is None:
            await self._send(ws, {"op": 9, "d": False})
            return
        self.resume_count += 1
        for frame in events:
            if frame["s"] > (data.get("seq") or 0):
                await self._send(ws, frame)
        self._seq += 1
        await self._send(ws, {"op": 0, "t": "RESUMED", "s": self._seq, "d": {}})

    # ----------------------------------------------------------------- REST

    async def _serve_cdn(self, request: web.Request) -> web.Response:
        data = self._cdn.get(str(request.url.with_query(None)))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        payload, files = await _read_body(request)
        record = RecordedRequest(request.method, path, dict(request.query), payload, files)
        self.requests.append(record)
        try:
            response = self._limited(record) or await self._route(record)
        except _Error as exc:
            response = _json({"message": exc.message, "code": exc.code}, status=exc.status)
        record.status = response.status
        response.headers.update(
            {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "49", "X-RateLimit-Reset-After": "1.0",
             "X-RateLimit-Bucket": f"bucket-{request.method}-{_route_key(path)}"}
        )
        await self._notify()
        return response

    def _limited(self, record: RecordedRequest) -> web.Response | None:
        for rule in self._rate_limits:
            if rule.remaining > 0 and record.matches(rule.method, rule.pattern):
                rule.remaining -= 1
                body = {"message": "You are being rate limited.", "retry_after": rule.retry_after, "global": rule.is_global}
                headers = {"Via": "1.1 google", "Retry-After": str(max(1, round(rule.retry_after))), "X-RateLimit-Scope": "user"}
                return _json(body, status=429, headers=headers)
        return None

    async def _route(self, r: RecordedRequest) -> web.Response:
        p, m = r.path, r.method
        if m == "GET" and p == "/users/@me":
            return _json(self.bot_user.user_payload(bot=True))
        if m == "GET" and p == "/oauth2/applications/@me":
            return _json(self._application())
        if m == "GET" and p in ("/gateway/bot", "/gateway"):
            url = self.base_url.replace("http", "ws", 1) + "/gateway"
            return _json({"url": url, "shards": 1, "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})
        if (found := re.fullmatch(r"/applications/(\d+)/commands", p)) is not None:
            if m == "PUT":
                self.command_overwrites += 1
                self.global_commands = [{"description": "", "options": [], **c, "id": str(self.snowflake()), "application_id": found[1], "version": "1"} for c in r.json]
            return _json(self.global_commands)
        if (found := re.fullmatch(r"/applications/(\d+)/guilds/(\d+)/commands", p)) is not None:
            if m == "PUT":
                self.guild_commands[int(found[2])] = [
                    {"description": "", "options": [], **c, "id": str(self.snowflake()), "application_id": found[1], "guild_id": found[2], "version": "1"}
                    for c in r.json
                ]
            return _json(self.guild_commands.get(int(found[2]), []))
        if (found := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", p)) is not None and m == "POST":
            return self._callback(found[2], r)
        if (found := re.fullmatch(r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", p)) is not None:
            return self._webhook_message(found[2], found[3], r)
        if (found := re.fullmatch(r"/webhooks/(\d+)/([^/]+)", p)) is not None and m == "POST":
            return self._followup(found[2], r)
        if (found := re.fullmatch(r"/channels/(\d+)/messages", p)) is not None and m == "POST":
            channel_id = self._channel_ok(int(found[1]))
            return _json(self._new_message(channel_id, r, author=self.bot_user))
        if (found := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", p)) is not None:
            self._channel_ok(int(found[1]))
            return self._channel_message(int(found[2]), r)
        if (found := re.fullmatch(r"/channels/(\d+)", p)) is not None and m == "GET":
            channel_id = self._channel_ok(int(found[1]))
            return _json({"id": str(channel_id), "type": 0, "guild_id": str(self.guild_id), "name": "art", "position": 0, "permission_overwrites": [], "nsfw": False})
        raise _Error(404, 0, f"fake discord has no route {m} {p}")

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id), "name": "glyphbot", "icon": None, "description": "", "rpc_origins": [],
            "bot_public": True, "bot_require_code_grant": False, "owner": self.bot_user.user_payload(),
            "summary": "", "verify_key": "00", "team": None, "flags": 0, "interactions_endpoint_url": None,
        }

    def _channel_ok(self, channel_id: int) -> int:
        if channel_id in self.deleted_channels:
            raise _Error(404, 10003, "Unknown Channel")
        if channel_id in self.denied_channels:
            raise _Error(403, 50013, "Missing Permissions")
        return channel_id

    def _interaction(self, token: str) -> FakeInteraction:
        record = self.interactions.get(token)
        if record is None or record.expired:
            raise _Error(401, 50027, "Invalid Webhook Token")
        return record

    def _callback(self, token: str, r: RecordedRequest) -> web.Response:
        record = self.interactions.get(token)
        if record is None or record.expired:
            raise _Error(404, 10062, "Unknown interaction")
        if record.callbacks:
            raise _Error(400, 40060, "Interaction has already been acknowledged.")
        kind = r.json["type"]
        record.callbacks.append({"type": kind, "data": r.json.get("data"), "at": r.at, "files": r.files})
        answer: dict[str, Any] = {"interaction": {"id": str(record.id), "type": 2}}
        if kind in (4, 5):
            message = self._new_message(record.channel_id, r, author=self.bot_user, body=r.json.get("data") or {})
            record.original_message_id = int(message["id"])
            answer["interaction"].update(response_message_id=message["id"], response_message_loading=kind == 5,
                                         response_message_ephemeral=bool((r.json.get("data") or {}).get("flags", 0) & 64))
            answer["resource"] = {"type": kind, "message": message}
        elif kind in (6, 7) and r.json.get("data") is not None:
            source = self._source_message_for(record)
            if source is not None:
                self._apply_edit(source, r.json["data"], r.files)
                answer["resource"] = {"type": kind, "message": source}
        else:
            answer["resource"] = {"type": kind}
        return _json(answer)

    def _source_message_for(self, record: FakeInteraction) -> dict[str, Any] | None:
        return self.messages.get(record.message_id) if record.message_id else None

    def _webhook_message(self, token: str, which: str, r: RecordedRequest) -> web.Response:
        record = self._interaction(token)
        # A component interaction answered with a deferred update has the clicked message as its original.
        message_id = (record.original_message_id or record.message_id) if which == "@original" else int(which)
        if message_id is None or message_id not in self.messages:
            raise _Error(404, 10008, "Unknown Message")
        return self._channel_message(message_id, r)

    def _followup(self, token: str, r: RecordedRequest) -> web.Response:
        record = self._interaction(token)
        message = self._new_message(record.channel_id, r, author=self.bot_user)
        record.followup_ids.append(int(message["id"]))
        return _json(message)

    def _channel_message(self, message_id: int, r: RecordedRequest) -> web.Response:
        message = self.messages.get(message_id)
        if message is None:
            raise _Error(404, 10008, "Unknown Message")
        if r.method == "GET":
            return _json(message)
        if r.method == "DELETE":
            message["deleted"] = True
            return web.Response(status=204)
        if r.method == "PATCH":
            self._check_files(r.files)
            self._apply_edit(message, r.json or {}, r.files)
            return _json(message)
        raise _Error(405, 0, "method not allowed")

    def _check_files(self, files: list[tuple[str, str, bytes]]) -> None:
        if len(files) > 10:
            raise _Error(400, 50035, "Invalid Form Body: too many attachments")
        if sum(len(f[2]) for f in files) > self.upload_limit:
            raise _Error(413, 40005, "Request entity too large")

    def _attachments(self, files: list[tuple[str, str, bytes]]) -> list[dict[str, Any]]:
        out = []
        for filename, content_type, data in files:
            attachment_id = self.snowflake()
            url = f"{self.base_url}/cdn/{attachment_id}/{filename}"
            self._cdn[url] = data
            out.append({"id": str(attachment_id), "filename": filename, "size": len(data), "url": url, "proxy_url": url, "content_type": content_type})
        return out

    def _new_message(self, channel_id: int, r: RecordedRequest, *, author: FakeUser, body: dict[str, Any] | None = None) -> dict[str, Any]:
        self._check_files(r.files)
        body = r.json or {} if body is None else body
        message_id = self.snowflake()
        message = {
            "id": str(message_id), "channel_id": str(channel_id), "author": author.user_payload(bot=True),
            "content": body.get("content") or "", "timestamp": discord.utils.utcnow().isoformat(), "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": self._attachments(r.files),
            "embeds": body.get("embeds") or [], "pinned": False, "type": 0, "components": body.get("components") or [],
            "flags": body.get("flags", 0), "allowed_mentions": body.get("allowed_mentions"), "edits": 0,
        }
        if channel_id == self.channel_id:
            message["guild_id"] = str(self.guild_id)
        self.messages[message_id] = message
        return message

    def _apply_edit(self, message: dict[str, Any], body: dict[str, Any], files: list[tuple[str, str, bytes]]) -> None:
        for key in ("content", "embeds", "components", "flags", "allowed_mentions"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ([] if key in ("embeds", "components") else "")
        if "attachments" in body or files:
            kept_ids = {str(a.get("id")) for a in body.get("attachments", []) if "id" in a}
            kept = [a for a in message["attachments"] if a["id"] in kept_ids]
            message["attachments"] = kept + self._attachments(files)
        message["edited_timestamp"] = discord.utils.utcnow().isoformat()
        message["edits"] = message.get("edits", 0) + 1


class _Error(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with the bare `application/json` type: discord.py only decodes that exact header value."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={**(headers or {}), "Content-Type": "application/json"})


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _route_key(path: str) -> str:
    return re.sub(r"/(\d{5,}|tok-\d+|@original)", "/:id", path)


async def _read_body(request: web.Request) -> tuple[Any, list[tuple[str, str, bytes]]]:
    """Parse JSON or discord.py's multipart body (`payload_json` plus `files[n]` parts)."""
    if not request.body_exists:
        return None, []
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("multipart/"):
        payload: Any = None
        files: list[tuple[str, str, bytes]] = []
        reader = await request.multipart()
        async for part in reader:
            data = await part.read()  # type: ignore[union-attr]
            if part.name == "payload_json":  # type: ignore[union-attr]
                payload = json.loads(data)
            else:
                files.append((part.filename or "", part.headers.get("Content-Type", ""), bytes(data)))  # type: ignore[union-attr]
        return payload, files
    raw = await request.read()
    return (json.loads(raw) if raw else None), []

