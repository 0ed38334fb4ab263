"""`glyphbot apikey ...` and `glyphbot moderator ...` against the configured database (SQLite and
PostgreSQL); `run_http`, the HTTP adapter `glyphbot serve` runs: it answers on its port, frees it when
cancelled, and a taken port is one clear error; and `glyphbot serve --adapter http` as a process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.http import HttpBindError, run_http
from bot.http.accounts import authenticate_key, list_api_keys, verify_login
from config.settings import load_settings
from storage.db import Database

from .conftest import PASSWORD


@pytest.fixture
def configured(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("GLYPHBOT_DATABASE__URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    return db


def glyphbot(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def test_apikey_create_list_revoke(configured: Database) -> None:
    code, output = glyphbot("apikey", "create", "autoresponder", "--scopes", "submit,read", "--rate", "30")
    assert code == 0, output
    token = output.splitlines()[1]
    assert "API key 1 for client 'autoresponder', scopes read,submit" in output and "not shown again" in output
    client = authenticate_key(configured, token)
    assert client is not None and client.scopes == {"submit", "read"} and client.rate_per_minute == 30
    code, output = glyphbot("apikey", "list")
    assert code == 0 and "autoresponder" in output and token[:12] in output and token not in output  # never shown again
    assert glyphbot("apikey", "revoke", "1") == (0, "API key 1 revoked\n")
    assert authenticate_key(configured, token) is None
    assert "revoked" in glyphbot("apikey", "list")[1]
    assert glyphbot("apikey", "revoke", "1") == (1, "error: no active API key with id 1\n")


def test_apikey_refusals_are_one_line(configured: Database) -> None:
    assert glyphbot("apikey", "create", "ops", "--scopes", "read,admin") == (
        1, "error: unknown scope(s) admin; choose from submit, read, moderate\n")
    code, output = glyphbot("apikey", "create", "bad name")
    assert code == 1 and output.startswith("error: client name 'bad name' must be")
    assert glyphbot("apikey", "create", "ops", "--rate", "0")[1] == "error: the rate limit must be a positive number of requests per minute\n"
    assert list_api_keys(configured) == []
    assert "no API keys" in glyphbot("apikey", "list")[1]


def test_moderator_add_passwd_disable(configured: Database) -> None:
    code, output = glyphbot("moderator", "add", "mia", stdin=f"{PASSWORD}\n{PASSWORD}\n")  # hidden prompt, confirmed
    assert code == 0, output
    assert PASSWORD not in output and verify_login(configured, "mia", PASSWORD) is not None
    code, output = glyphbot("moderator", "add", "mia", "--password-stdin", stdin="another password\n")
    assert code == 1 and "moderator 'mia' exists; use `glyphbot moderator passwd mia`" in output
    assert verify_login(configured, "mia", PASSWORD) is not None  # unchanged
    assert glyphbot("moderator", "disable", "mia") == (0, "moderator 'mia' disabled\n")
    assert verify_login(configured, "mia", PASSWORD) is None
    assert "disabled" in glyphbot("moderator", "list")[1]
    code, output = glyphbot("moderator", "passwd", "mia", "--password-stdin", stdin="a new long password\n")
    assert code == 0 and "enabled" in output, output
    assert verify_login(configured, "mia", "a new long password") is not None and verify_login(configured, "mia", PASSWORD) is None
    assert glyphbot("moderator", "passwd", "zed", "--password-stdin", stdin=f"{PASSWORD}\n") == (1, "error: no moderator named 'zed'\n")
    assert glyphbot("moderator", "disable", "zed") == (1, "error: no enabled moderator named 'zed'\n")


def test_moderator_passwords_are_checked(configured: Database) -> None:
    code, output = glyphbot("moderator", "add", "sam", stdin=f"{PASSWORD}\nsomething else\n")
    assert code != 0 and "do not match" in output.lower()
    assert glyphbot("moderator", "add", "sam", "--password-stdin", stdin="short\n") == (
        1, "error: the password must have at least 10 characters\n")
    assert glyphbot("moderator", "list") == (0, "no moderators; add one with `glyphbot moderator add NAME`\n")


def test_bad_settings_and_unreachable_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLYPHBOT_HTTP__PORT", "99999")
    code, output = glyphbot("apikey", "list")
    assert code == 1 and output.startswith("error: invalid settings: http.port:")
    monkeypatch.delenv("GLYPHBOT_HTTP__PORT")
    monkeypatch.setenv("GLYPHBOT_DATABASE__URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("GLYPHBOT_DATABASE__BUSY_TIMEOUT_S", "1")
    code, output = glyphbot("apikey", "create", "ops")
    assert code == 1 and output.startswith("error: database unavailable: ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_run_http_serves_until_cancelled_and_frees_the_port(sqlite_db: Database, tmp_path: Path) -> None:
    port = _free_port()
    settings = load_settings(storage={"data_dir": tmp_path}, http={"port": port})
    server = asyncio.create_task(run_http(settings, sqlite_db))
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"http://127.0.0.1:{port}/api/v1/openapi.json") as reply:
                    assert reply.status == 200 and (await reply.json())["openapi"].startswith("3.1")
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("run_http never answered")
        # A second server on the same port: one clear error, no traceback.
        with pytest.raises(HttpBindError, match=f"cannot listen on 127.0.0.1:{port}: the port is in use"):
            await run_http(settings, sqlite_db)
    server.cancel()
    with pytest.raises(asyncio.CancelledError):
        await server
    with socket.socket() as sock:  # the socket was closed: the port can be bound again
        sock.bind(("127.0.0.1", port))


def test_glyphbot_serve_answers_the_api_and_stops_on_ctrl_c(sqlite_db: Database, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    monkeypatch.setenv("GLYPHBOT_DATABASE__URL", sqlite_db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLYPHBOT_HTTP__PORT", str(port))
    token = glyphbot("apikey", "create", "poster", "--scopes", "submit,read")[1].splitlines()[1]
    command = [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--adapter", "http", "--no-worker"]
    process = subprocess.Popen(command, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/jobs", data=json.dumps({"prompt": "SERVED"}).encode(),
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        deadline = time.monotonic() + 90  # starting the CLI takes seconds on idle cores, far more beside a training run
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(request, timeout=2) as reply:
                    assert reply.status == 201 and json.load(reply)["status"] == "queued"
                    break
            except urllib.error.URLError as error:
                assert not isinstance(error, urllib.error.HTTPError), error.read()
                assert process.poll() is None, process.communicate()[0]
                time.sleep(0.05)
        else:
            pytest.fail("glyphbot serve never answered")
        # While it runs, a second one on the same port stops at once with the reason.
        second = subprocess.run(command, env=os.environ, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in second.stderr
        process.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output and "serve stopped" in output


async def test_a_request_line_over_8_kb_is_400_and_one_log_line(sqlite_db: Database, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """aiohttp answers 400 by itself; its log entry must be one line naming the limit, not the parser's traceback."""
    port = _free_port()
    settings = load_settings(storage={"data_dir": tmp_path}, http={"port": port})
    server = asyncio.create_task(run_http(settings, sqlite_db))
    try:
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("run_http never listened")
        writer.write(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
    assert status_line.split()[1:2] == [b"400"], status_line
    [entry] = [r for r in caplog.records if "8190 bytes" in r.getMessage()]
    text = caplog.handler.format(entry)
    assert entry.exc_info is None and "\n" not in text and "Traceback" not in text, text
    assert len(entry.getMessage()) < 300, entry.getMessage()
