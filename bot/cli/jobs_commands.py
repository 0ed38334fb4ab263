"""Queue commands: `jobs submit/list/show/cancel`, `worker`, `serve`, `db upgrade/downgrade/status` (`bench queue` is in bench_commands.py).

They work against the configured database (config/default.toml, GLYPHBOT_CONFIG, GLYPHBOT_*), so
`glyphbot jobs submit` from one shell and `glyphbot worker` from another cooperate like the bots do.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bot.cli.app import USAGE_ERROR, app, existing_file, fail, picture_file, reported_errors
from bot.cli.request_flags import ALL, request_flags
from storage.types import JOB_STATUSES, SOURCES

# Choices, so a misspelt filter is refused instead of matching nothing.
StatusChoice = enum.StrEnum("StatusChoice", {name: name for name in JOB_STATUSES})
SourceChoice = enum.StrEnum("SourceChoice", {name: name for name in SOURCES})

jobs_app = typer.Typer(help="Submit, inspect and cancel generation jobs.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(db_app, name="db")


def _open(settings=None, *, upgrade: bool = True):  # noqa: ANN001,ANN202  Settings -> storage.facade.Storage, lazily
    from storage.facade import open_storage

    return open_storage(settings, upgrade=upgrade)


@jobs_app.command("submit")
@request_flags(*ALL)
def submit(
    given: dict[str, Any],
    text: Annotated[str, typer.Argument(help="The text to draw; use \\n for a line break.")],
    image: Annotated[Optional[Path], typer.Option(callback=existing_file, metavar="FILE", help="Start image (PNG) to draw over.")] = None,
    box: Annotated[Optional[str], typer.Option(metavar="X,Y,W,H", help="With --image: write the text into this box of the picture (pixels) and keep the rest.")] = None,
    style_image: Annotated[Optional[Path], typer.Option(callback=existing_file, metavar="FILE", help="A reference picture (PNG) whose palette and texture to take on.")] = None,
    key: Annotated[Optional[str], typer.Option(help="Idempotency key: submitting it again returns the same job.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the job to finish, showing progress.")] = False,
    wait_for_worker: Annotated[
        bool, typer.Option("--wait-for-worker", help="With --wait: keep waiting when no worker is running yet.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 3600.0,
    out: Annotated[Optional[Path], typer.Option(help="With --wait: write the chosen image here.")] = None,
) -> None:
    """Queue a job as the local user (source "cli") and print its id; with --wait --out, a tween writes its GIF."""
    import getpass

    from config.settings import load_settings
    from generation.request_options import asked, configured
    from generation.request_parsers import parse_box, unescape_newlines
    from storage.types import JobSubmission
    from storage.validation import same_request

    try:
        where = None if box is None else parse_box(box)
    except ValueError as error:
        fail(f"--box: {error}", USAGE_ERROR)  # the same one line as imagine's
    with reported_errors(TimeoutError):
        settings = load_settings()
        storage = _open(settings)
        request = asked(
            configured(settings.generation.model_dump()), unescape_newlines(text), **given, box=where,
            init_image_png=picture_file(image, "--image"),
            style_image_png=picture_file(style_image, "--style-image"),
        )
        user = getpass.getuser()
        job = storage.jobs.submit(JobSubmission(request, "cli", user, user, "", key))
        if key is not None and not same_request(job, request):
            fail(f"idempotency key {key!r} was already used for job {job.id} with a different request; use another key")
        typer.echo(f"job {job.id} {job.status}" + (f", position {storage.jobs.position(job.id)}" if job.status == "queued" else ""))
        if wait:
            job = _follow(storage, job.id, timeout, wait_for_worker=wait_for_worker)
            if job.status != "succeeded":
                typer.secho(f"job {job.id} {job.status}: {job.error}", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
            if out is not None:
                winner = next(image for image in storage.jobs.images_of(job.id, include_hidden=True) if image.chosen)
                out.write_bytes(storage.images.read(winner.sha256))
                typer.echo(f"wrote {out}")


# A worker started together with the job gets this long to report in before the user hears that none runs.
NO_WORKER_GRACE_S = 2.0


def _follow(storage, job_id: int, timeout_s: float, *, wait_for_worker: bool):  # noqa: ANN001,ANN202
    """Poll the job, printing a line whenever its status, position or stage changes.

    A queued job with no worker running would wait out the whole timeout in silence, so after a short
    grace the user hears it; the command then stops (exit 1) unless `wait_for_worker`.
    """
    import time

    from storage.jobs import backoff_delays
    from storage.types import NO_WORKER

    started = time.monotonic()
    deadline = started + timeout_s
    shown = None
    warned = False
    for delay in backoff_delays(0.1, 1.0):
        job = storage.jobs.get(job_id)
        position = storage.jobs.position(job_id) if job.status == "queued" else None
        if job.status == "queued" and not warned and time.monotonic() - started >= NO_WORKER_GRACE_S and storage.jobs.live_workers() == 0:
            if not wait_for_worker:
                fail(f"job {job_id}: {NO_WORKER}; pass --wait-for-worker to keep waiting for one")
            typer.secho(f"job {job_id}: {NO_WORKER}; waiting for one (--wait-for-worker)", fg=typer.colors.YELLOW, err=True)
            warned = True
        line = f"job {job.id} {job.status}"
        if position:
            line += f", position {position}"
        if job.status == "running" and job.progress_stage:
            line += f", {job.progress_stage} step {job.progress_step}/{job.progress_total}"
        if line != shown:
            typer.echo(line)
            shown = line
        if job.done:
            return job
        if time.monotonic() + delay > deadline:
            raise TimeoutError(f"job {job_id} is still {job.status} after {timeout_s:.0f} s (it stays queued)")
        time.sleep(delay)
    raise AssertionError("unreachable")


@jobs_app.command("list")
def list_jobs(
    status: Annotated[Optional[list[StatusChoice]], typer.Option(help="Only these statuses (repeatable).")] = None,
    source: Annotated[Optional[SourceChoice], typer.Option(help="Only jobs from this adapter.")] = None,
    requester: Annotated[Optional[str], typer.Option(help="Platform user id.")] = None,
    place: Annotated[Optional[str], typer.Option(help="Channel or blog.")] = None,
    search: Annotated[Optional[str], typer.Option(help="Text the prompt contains.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    before: Annotated[Optional[int], typer.Option(help="Show jobs older than this id (next page).")] = None,
) -> None:
    """Newest jobs first, one line each."""
    from storage.types import JobFilter

    with reported_errors(TimeoutError):
        storage = _open()
        page = storage.jobs.list(
            JobFilter(
                status=None if status is None else [str(choice) for choice in status],
                source=None if source is None else str(source),
                requester_id=requester,
                place=place,
                prompt_contains=search,
            ),
            limit=limit,
            before_id=before,
        )
        for job in page.jobs:
            prompt = job.prompt.replace("\n", "⏎")
            typer.echo(f"{job.id:>8}  {job.status:<9}  {job.source:<7}  {job.requester_name or job.requester_id:<16.16}  {prompt[:60]}")
        if page.next_before_id is not None:
            typer.echo(f"more: --before {page.next_before_id}")


@jobs_app.command("show")
def show(
    job_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document (ISO times, seconds) instead of lines for people.")] = False,
) -> None:
    """Every field of a job and its images."""
    import dataclasses
    import json

    with reported_errors(TimeoutError):
        storage = _open()
        job = storage.jobs.get(job_id)
        fields = dataclasses.asdict(job)
        position, eta = storage.jobs.position(job_id), storage.jobs.eta(job_id)
        if position is not None:
            fields["position"] = position
        if eta is not None:
            fields["eta"] = eta
        images = storage.jobs.images_of(job_id, include_hidden=True)
        if as_json:
            fields["images"] = [dict(dataclasses.asdict(image), path=str(storage.images.path(image.sha256))) for image in images]
            typer.echo(json.dumps(fields, indent=2, default=_json_value))
            return
        for name, value in fields.items():
            typer.echo(f"{name:>22}: {_readable(value)}")
        if job.started_at is not None and job.finished_at is not None:
            typer.echo(f"{'took':>22}: {_readable(job.finished_at - job.started_at)}")
        for image in images:
            flags = ("chosen " if image.chosen else "") + ("hidden" if image.hidden else "")
            score = "" if image.ocr_score is None else f" ocr {image.ocr_score:.2f} {image.ocr_text!r}"
            typer.echo(f"  image {image.id} {image.stage} seed {image.seed} {image.width}x{image.height} {storage.images.path(image.sha256)}{score} {flags}")


def _readable(value: Any) -> str:
    """A job field as a person reads it: ISO times to the second, durations in seconds, text as it is
    (quoted only when it has line breaks or edge spaces), nothing for None."""
    import datetime as dt

    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds():.1f} s"
    if isinstance(value, str) and (value != value.strip() or "\n" in value):
        return repr(value)
    return str(value)


def _json_value(value: Any) -> Any:
    """What json.dumps cannot write by itself: times as ISO 8601, durations as seconds."""
    import datetime as dt

    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@jobs_app.command("cancel")
def cancel(job_id: int, reason: Annotated[str, typer.Option()] = "cancelled from the command line") -> None:
    """Cancel a queued or running job (a running one stops at its next progress report)."""
    with reported_errors(TimeoutError):
        job = _open().jobs.cancel(job_id, reason)
        typer.echo(f"job {job.id} {job.status}")


def _open_waiting(settings, fail_fast: bool):  # noqa: ANN001,ANN202  Settings -> storage.facade.Storage
    """Open storage for a long-running command, waiting out an unreachable database unless told to fail fast."""
    from storage.retry import wait_for_database

    return wait_for_database(
        lambda: _open(settings), max_delay_s=settings.worker.db_retry_max_s, fail_fast=fail_fast or settings.database.fail_fast
    )


FailFastOption = Annotated[
    bool, typer.Option("--fail-fast", help="Stop at once if the database is unreachable (default: retry with back-off; database.fail_fast).")
]


def _build_worker(settings, storage, renderer: str | None = None, batch_size: int | None = None):  # noqa: ANN001,ANN202
    """A worker on `storage` with the configured renderer; a renderer that cannot start (no trained
    checkpoint, no GPU) stops the command here, before it claims any job."""
    import dataclasses

    from bot.render.loading import RendererUnavailable, load_renderer
    from bot.worker import Worker, WorkerOptions

    try:
        render = load_renderer(renderer or settings.worker.renderer, settings)
    except RendererUnavailable as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    options = WorkerOptions.from_settings(settings.worker)
    if batch_size is not None:
        options = dataclasses.replace(options, batch_size=batch_size)
    return Worker(storage.jobs, render, options)


CheckpointDirOption = Annotated[
    Optional[Path], typer.Option(help="Folder with base/ (and sr/) from `glyphbot train` (default: generation.checkpoint_dir).")
]


def _settings_with_checkpoint(checkpoint_dir: Path | None):  # noqa: ANN202  config.settings.Settings
    from config.settings import load_settings

    return load_settings(**({} if checkpoint_dir is None else {"generation": {"checkpoint_dir": checkpoint_dir}}))


def _log_to_console() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command("worker")
def worker(
    renderer: Annotated[Optional[str], typer.Option(help="cascade, text or constant (default: worker.renderer setting).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Jobs per GPU batch (default from settings).")] = None,
    exit_when_idle: Annotated[bool, typer.Option("--exit-when-idle", help="Stop once the queue is empty.")] = False,
    checkpoint_dir: CheckpointDirOption = None,
    fail_fast: FailFastOption = False,
) -> None:
    """Run a worker against the configured database until interrupted."""
    import signal

    _log_to_console()
    with reported_errors(TimeoutError):
        settings = _settings_with_checkpoint(checkpoint_dir)
        runner = _build_worker(settings, _open_waiting(settings, fail_fast), renderer, batch_size)
        signal.signal(signal.SIGTERM, lambda *_: runner.stop())
        try:
            runner.run(exit_when_idle=exit_when_idle)
        except KeyboardInterrupt:
            runner.stop()


@app.command("serve")
def serve(
    adapter: Annotated[
        Optional[list[str]], typer.Option(help="discord, tumblr or http (repeatable; default: every configured one).")
    ] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Adapters only; workers run elsewhere.")] = False,
    checkpoint_dir: CheckpointDirOption = None,
    fail_fast: FailFastOption = False,
) -> None:
    """Run the adapters plus an in-process worker against the configured database until SIGINT/SIGTERM."""
    import asyncio
    import logging

    from bot.serve import ADAPTERS, ServeError, configured_adapters, serve as serve_all

    unknown = [name for name in adapter or [] if name not in ADAPTERS]
    if unknown:
        raise typer.BadParameter(f"unknown adapter {unknown[0]!r}; choose from {', '.join(ADAPTERS)}", param_hint="--adapter")
    _log_to_console()
    with reported_errors(TimeoutError):
        settings = _settings_with_checkpoint(checkpoint_dir)
        storage = _open_waiting(settings, fail_fast)
        runner = None if no_worker else _build_worker(settings, storage)
        names = list(dict.fromkeys(adapter or configured_adapters(settings)))
        logging.getLogger(__name__).info("serving %s %s", ", ".join(names), "without a worker" if no_worker else "with an in-process worker")
        try:
            asyncio.run(serve_all(settings, storage, names, runner))
        except ServeError as error:
            typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        finally:
            storage.close()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "heads") -> None:
    """Migrate the configured database to the newest schema (or to REVISION)."""
    from storage.db import describe_url

    with reported_errors(TimeoutError):
        storage = _open(upgrade=False)
        storage.db.upgrade(revision)
        typer.echo(f"{describe_url(storage.db.url)} at {', '.join(sorted(storage.db.current_revisions()))}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help='Target revision; "base" drops every table.')]) -> None:
    """Migrate the configured database down to REVISION."""
    with reported_errors(TimeoutError):
        storage = _open(upgrade=False)
        storage.db.downgrade(revision)
        typer.echo(f"at {', '.join(sorted(storage.db.current_revisions())) or 'base (empty)'}")


@db_app.command("status")
def db_status() -> None:
    """Where the configured database is, and whether its schema is current."""
    from storage.db import describe_url

    with reported_errors(TimeoutError):
        storage = _open(upgrade=False)
        current, heads = storage.db.current_revisions(), storage.db.head_revisions()
        state = "up to date" if current == heads else f"needs `glyphbot db upgrade` (code ships {', '.join(sorted(heads))})"
        typer.echo(f"{describe_url(storage.db.url)}: at {', '.join(sorted(current)) or 'nothing'}; {state}")
