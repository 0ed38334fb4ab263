"""Accounts of the HTTP side: `apikey create/list/revoke` and `moderator add/passwd/disable/list`.
(`glyphbot serve` runs the HTTP API and the moderator web app beside the other adapters.)

Secrets never travel on the command line (where `ps` and shell history would keep them): API keys are
printed once by `apikey create` and stored only as hashes; moderator passwords are read from a hidden
prompt or, for scripts, one line of standard input (`--password-stdin`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Annotated, Optional

import typer

from bot.cli.app import app, fail, reported_errors

apikey_app = typer.Typer(help="API keys of HTTP clients (hashed in the database; shown once).", no_args_is_help=True)
moderator_app = typer.Typer(help="Moderator accounts of the web app.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(moderator_app, name="moderator")


@contextlib.contextmanager
def _database() -> Iterator:  # storage.db.Database, imported lazily so `glyphbot --help` stays fast
    """The configured database, migrated to the newest schema (the HTTP tables included)."""
    from storage.facade import open_storage

    storage = open_storage(upgrade=True)
    try:
        yield storage.db
    finally:
        storage.close()


# --- API keys ----------------------------------------------------------------------------------------


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="Client name; keys of one client see the same jobs.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: submit, read, moderate.")] = "submit,read",
    rate: Annotated[Optional[float], typer.Option(help="Requests per minute for this key (default: [http] setting).")] = None,
) -> None:
    """Create a key and print it once; only its hash is kept."""
    from bot.http.accounts import create_api_key

    with reported_errors(ValueError), _database() as db:
        token, info = create_api_key(db, name, scopes, rate_per_minute=rate)
    typer.echo(f"API key {info.id} for client {info.client!r}, scopes {','.join(sorted(info.scopes))}:")
    typer.echo(token)
    typer.echo("Store it now: it is not shown again. Send it as `Authorization: Bearer <key>`.", err=True)


@apikey_app.command("list")
def apikey_list() -> None:
    """Every key: id, client, the first characters of the key, scopes, rate, created, revoked."""
    from bot.http.accounts import list_api_keys

    with reported_errors(ValueError), _database() as db:
        keys = list_api_keys(db)
    if not keys:
        typer.echo("no API keys; create one with `glyphbot apikey create NAME --scopes submit,read`")
        return
    typer.echo(f"{'id':>4}  {'client':<20} {'key':<14} {'scopes':<22} {'rate/min':>9}  {'created':<20} revoked")
    for key in keys:
        rate = "default" if key.rate_per_minute is None else f"{key.rate_per_minute:g}"
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-"
        typer.echo(f"{key.id:>4}  {key.client:<20} {key.key_prefix + '…':<14} {','.join(sorted(key.scopes)):<22} "
                   f"{rate:>9}  {key.created_at:%Y-%m-%d %H:%M:%S}  {revoked}")


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `apikey list`).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from bot.http.accounts import revoke_api_key

    with reported_errors(ValueError), _database() as db:
        revoked = revoke_api_key(db, key_id)
    if not revoked:
        fail(f"no active API key with id {key_id}")
    typer.echo(f"API key {key_id} revoked")


# --- moderators --------------------------------------------------------------------------------------

PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@moderator_app.command("add")
def moderator_add(name: Annotated[str, typer.Argument(help="Login name.")], password_stdin: PasswordStdin = False) -> None:
    """Create a moderator account (password from a hidden prompt, never from the command line)."""
    from bot.http.accounts import add_moderator

    with reported_errors(ValueError), _database() as db:
        add_moderator(db, name, _read_password(password_stdin))
    typer.echo(f"moderator {name!r} added; log in at /mod/login")


@moderator_app.command("passwd")
def moderator_passwd(name: Annotated[str, typer.Argument(help="Login name.")], password_stdin: PasswordStdin = False) -> None:
    """Set a new password (this also re-enables a disabled account and ends its sessions)."""
    from bot.http.accounts import set_moderator_password

    with reported_errors(ValueError), _database() as db:
        changed = set_moderator_password(db, name, _read_password(password_stdin))
    if not changed:
        fail(f"no moderator named {name!r}")
    typer.echo(f"password of {name!r} changed; the account is enabled and its sessions ended")


@moderator_app.command("disable")
def moderator_disable(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Disable an account and end its sessions; its actions stay in the audit log under its name."""
    from bot.http.accounts import disable_moderator

    with reported_errors(ValueError), _database() as db:
        disabled = disable_moderator(db, name)
    if not disabled:
        fail(f"no enabled moderator named {name!r}")
    typer.echo(f"moderator {name!r} disabled")


@moderator_app.command("list")
def moderator_list() -> None:
    """Every account with its state."""
    from bot.http.accounts import list_moderators

    with reported_errors(ValueError), _database() as db:
        accounts = list_moderators(db)
    if not accounts:
        typer.echo("no moderators; add one with `glyphbot moderator add NAME`")
    for account in accounts:
        state = f"disabled {account.disabled_at:%Y-%m-%d %H:%M}" if account.disabled_at else "enabled"
        typer.echo(f"{account.name:<24} created {account.created_at:%Y-%m-%d %H:%M}  {state}")
