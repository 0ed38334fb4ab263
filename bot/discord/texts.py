"""What the bot writes in Discord messages, as pure functions of jobs and images (easy to test, one place to reword)."""

from __future__ import annotations

import datetime as dt

import discord

from storage.types import NO_WORKER, Job, JobUpdate, StoredImage

MAX_MESSAGE_CHARS = 2000
STAGE_NAMES = {"base": "drawing", "sr": "sharpening", "frame": "drawing frames", "gif": "making the GIF"}


def as_typed(text: str) -> str:
    """Users' text shown literally: a prompt must not make the bot post a masked link, a heading or a
    spoiler. (Mentions are harmless: the client allows none.)"""
    return discord.utils.escape_markdown(text)


def quote_prompt(prompt: str, limit: int = 300) -> str:
    """The prompt as a Discord block quote (newlines kept), cut to `limit` characters."""
    text = prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"
    return "\n".join("> " + (as_typed(line) or " ") for line in text.split("\n"))


def format_eta(eta: dt.timedelta | None) -> str:
    """", ready in ~N s" — or nothing when there is no run history to estimate from yet."""
    if eta is None:
        return ""
    seconds = max(1, round(eta.total_seconds()))
    return f", ready in ~{seconds} s" if seconds < 90 else f", ready in ~{round(seconds / 60)} min"


def status_line(update: JobUpdate, label: str = "") -> str:
    """One line per image while it is in flight: queue position and ETA, or stage and step."""
    job = update.job
    prefix = f"{label} " if label else ""
    if job.status == "queued":
        position = f"#{update.position} in the queue" if update.position else "in the queue"
        # A job goes back to the queue when its worker died; say so, or the progress seems to go backwards.
        again = f" again (attempt {job.attempts} was interrupted)" if job.attempts else ""
        unattended = f"; {NO_WORKER}" if update.workers == 0 else ""
        return f"{prefix}⏳ {position}{again}{format_eta(update.eta)}{unattended}"
    if job.status == "running":
        attempt = f" on attempt {job.attempts}" if job.attempts > 1 else ""
        if job.progress_stage and job.progress_total:
            stage = STAGE_NAMES.get(job.progress_stage, job.progress_stage)
            percent = round(100 * (job.progress_step or 0) / job.progress_total)
            steps = f"step {job.progress_step}/{job.progress_total} ({percent}%)"
            return f"{prefix}🖌️ {stage}: {steps}{attempt}{format_eta(update.eta)}"
        return f"{prefix}🖌️ started{attempt}{format_eta(update.eta)}"
    if job.status == "succeeded":
        return f"{prefix}✅ done"
    if job.status == "cancelled":
        return f"{prefix}✖️ cancelled"
    return f"{prefix}⚠️ failed: {job.error or 'unknown error'}"


def tween_title(start: str, end: str) -> str:
    return f"{start}\n→ {end}"


def job_title(job: Job) -> str:
    """The text a reply quotes: the prompt, or a tween's two ends."""
    return tween_title(job.prompt, job.end_prompt) if job.kind == "tween" else job.prompt


def settings_line(job: Job) -> str:
    parts = [f"seed {job.seed}", f"guidance {job.guidance_scale:g}", f"steps {job.num_inference_steps}"]
    if job.kind == "tween":
        parts.insert(0, f"tween of {job.frames} frames")
    if job.negative_prompt:
        parts.append(f"negative “{as_typed(job.negative_prompt[:80])}”")
    if job.init_image_hash:
        parts.append(f"text into box {job.box} of your image" if job.box else f"image strength {job.strength:g}")
    if job.style:
        parts.append(f"style {as_typed(job.style)} at {job.style_strength:g}")
    if job.style_image_hash:
        parts.append(f"style image at {job.style_strength:g}")
    parts.append(f"job {job.id}")
    return " · ".join(parts)


def progress_message(prompt: str, lines: list[str]) -> str:
    return fit(f"{quote_prompt(prompt)}\n" + "\n".join(lines))


def result_message(jobs: list[Job], note: str = "") -> str:
    """Caption of the final message: prompt, then per image its seed and settings (or why it is missing)."""
    lines = []
    for index, job in enumerate(jobs):
        label = f"#{index + 1} " if len(jobs) > 1 else ""
        if job.status == "succeeded":
            lines.append(f"{label}{settings_line(job)}")
        else:
            lines.append(status_line(JobUpdate(job=job), label.strip()))
    if note:
        lines.append(note)
    return fit(f"{quote_prompt(job_title(jobs[0]))}\n" + "\n".join(lines))


def candidates_message(job: Job, images: list[StoredImage]) -> str:
    lines = [f"Candidates of job {job.id} (OCR score: how well the text read back matches the prompt):"]
    for image in images:
        score = "n/a" if image.ocr_score is None else f"{image.ocr_score:.2f}"
        read = as_typed((image.ocr_text or "").replace("\n", " ⏎ ")[:60])
        marker = " ⭐ chosen" if image.chosen else ""
        lines.append(f"• {image.stage} seed {image.seed} {image.width}×{image.height}: score {score}, read “{read}”{marker}")
    if len(lines) == 1:
        lines.append("No candidates are stored for this job (it has not finished, or its images were hidden).")
    return fit("\n".join(lines))


def job_details(job: Job, images: list[StoredImage]) -> str:
    winner = next((image for image in images if image.chosen), None)
    lines = [
        f"**Job {job.id}** · {job.status} · by <@{job.requester_id}> · {discord_time(job.created_at)}",
        quote_prompt(job_title(job)),
        settings_line(job),
    ]
    if job.error:
        lines.append(f"Error: {job.error}")
    if winner is not None and winner.ocr_score is not None:
        lines.append(f"Chosen image OCR score {winner.ocr_score:.2f} of {len(images)} candidates")
    return fit("\n".join(lines))


def history_message(jobs: list[Job], whose: str) -> str:
    if not jobs:
        return f"No images by {whose} yet."
    lines = [f"Latest jobs by {whose}:"]
    for job in jobs:
        first_line = _first_line(job.prompt)
        if job.kind == "tween":
            first_line = f"tween {first_line} → {_first_line(job.end_prompt)}"
        lines.append(f"• `{job.id}` {job.status} {discord_time(job.created_at)} — {first_line}")
    return fit("\n".join(lines))


def _first_line(text: str) -> str:
    return as_typed(text.split("\n", 1)[0][:60])


def discord_time(moment: dt.datetime) -> str:
    """A timestamp each reader sees in their own time zone."""
    return f"<t:{int(moment.timestamp())}:R>"


def fit(text: str) -> str:
    """Cut text to Discord's 2000-character message limit (a longer message is refused outright)."""
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
