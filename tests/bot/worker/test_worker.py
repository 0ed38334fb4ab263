"""The worker loop in-process: rendering, progress, batching, cancellation and CUDA out-of-memory."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import pytest

from bot.worker import Worker, WorkerOptions
from bot.render.batches import is_out_of_memory
from bot.render.model_free import TextDrawingRenderer
from generation.types import ProgressCallback, RenderRequest, RenderResult
from storage.jobs import JobQueue

from tests.storage.fixtures import submission, wait_for

FAST = WorkerOptions(lease_s=10, heartbeat_s=0.2, batch_size=4, poll_interval_s=0.02)


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError: the worker recognises it by class name, without torch."""


class BatchingRenderer(TextDrawingRenderer):
    """Records batch sizes; runs out of memory above `max_batch` jobs or `max_candidates` candidates."""

    def __init__(self, max_batch: int = 64, max_candidates: int = 64) -> None:
        super().__init__()
        self.max_batch = max_batch
        self.max_candidates = max_candidates
        self.batches: list[int] = []
        self.freed = 0

    def render_batch(self, requests: Sequence[RenderRequest], progress: Sequence[ProgressCallback | None]) -> list[RenderResult]:
        self.batches.append(len(requests))
        if len(requests) > self.max_batch:
            raise RuntimeError("pipeline failed") from OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [self.render(request, callback) for request, callback in zip(requests, progress, strict=True)]

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        if request.candidates > self.max_candidates:
            raise OutOfMemoryError("CUDA out of memory")
        return super().render(request, progress)

    def free_memory(self) -> None:
        self.freed += 1


def test_worker_renders_jobs_and_records_progress_and_preview(queue: JobQueue, store) -> None:  # noqa: ANN001
    job = queue.submit(submission("HELLO\nWORLD", candidates=3, num_inference_steps=5, sr_num_inference_steps=3))
    assert Worker(queue, TextDrawingRenderer(), FAST).run(exit_when_idle=True) == 1
    done = queue.get(job.id)
    assert done.status == "succeeded" and done.attempts == 1
    assert (done.progress_stage, done.progress_step, done.progress_total) == ("sr", 3, 3)
    assert store.read(done.preview_hash).startswith(b"\x89PNG")
    images = queue.images_of(job.id)
    assert [image.stage for image in images] == ["base"] * 3 + ["sr"]
    assert store.read(images[-1].sha256).startswith(b"\x89PNG")


def test_compatible_jobs_share_one_batch(queue: JobQueue) -> None:
    jobs = [queue.submit(submission(f"J{i}")) for i in range(4)] + [queue.submit(submission("OTHER", candidates=1))]
    renderer = BatchingRenderer()
    Worker(queue, renderer, FAST).run(exit_when_idle=True)
    assert renderer.batches == [4]  # the odd job ran alone, through render()
    assert all(queue.get(job.id).status == "succeeded" for job in jobs)


def test_out_of_memory_splits_the_batch_then_the_candidates(queue: JobQueue) -> None:
    jobs = [queue.submit(submission(f"J{i}", seed=100, candidates=4)) for i in range(4)]
    renderer = BatchingRenderer(max_batch=1, max_candidates=1)
    Worker(queue, renderer, FAST).run(exit_when_idle=True)
    assert renderer.batches == [4, 2, 2]
    assert renderer.freed >= 3
    for job in jobs:
        done = queue.get(job.id)
        assert done.status == "succeeded", done.error
        images = queue.images_of(job.id)
        # four one-candidate renders with the job's own per-candidate seeds, exactly one winner
        assert sorted(image.seed for image in images if image.stage == "base") == [100, 101, 102, 103]
        assert sum(image.chosen for image in images) == 1


def test_out_of_memory_at_one_candidate_fails_the_job_and_the_worker_goes_on(queue: JobQueue) -> None:
    doomed = queue.submit(submission("BIG", candidates=2, num_inference_steps=7))
    fine = queue.submit(submission("SMALL", candidates=1))

    class AlwaysOOM(TextDrawingRenderer):
        def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
            if request.prompt == "BIG":
                raise OutOfMemoryError("CUDA out of memory")
            return super().render(request, progress)

    Worker(queue, AlwaysOOM(), FAST).run(exit_when_idle=True)
    failed = queue.get(doomed.id)
    assert failed.status == "failed"
    assert failed.error.startswith("out of GPU memory even for one candidate at a time")
    assert queue.images_of(doomed.id) == []
    assert queue.get(fine.id).status == "succeeded"


def test_oom_detection_by_name_or_message() -> None:
    assert is_out_of_memory(OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20 MiB"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_torch_out_of_memory_errors_are_recognised() -> None:
    import torch

    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 17.00 GB, other allocations: 1.2 GB)"))


def test_cancelling_a_running_job_stops_it_and_stores_nothing(queue: JobQueue) -> None:
    job = queue.submit(submission("SLOW", num_inference_steps=400))
    after = queue.submit(submission("NEXT", num_inference_steps=2, candidates=1))
    worker = Worker(queue, TextDrawingRenderer(step_delay_s=0.01), FAST)
    thread = threading.Thread(target=worker.run, kwargs={"exit_when_idle": True})
    thread.start()
    wait_for(lambda: queue.get(job.id).progress_step is not None)
    queue.cancel(job.id, "user pressed cancel")
    thread.join(timeout=20)
    assert not thread.is_alive()
    cancelled = queue.get(job.id)
    assert (cancelled.status, cancelled.error) == ("cancelled", "user pressed cancel")
    assert queue.images_of(job.id) == []
    assert queue.get(after.id).status == "succeeded"


def test_a_renderer_error_fails_only_that_job(queue: JobQueue) -> None:
    class Picky(TextDrawingRenderer):
        def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
            if "bad" in request.prompt:
                raise ValueError("unsupported glyph")
            return super().render(request, progress)

    bad = queue.submit(submission("bad"))
    good = queue.submit(submission("good"))
    Worker(queue, Picky(), FAST).run(exit_when_idle=True)
    assert queue.get(bad.id).error == "ValueError: unsupported glyph"
    assert queue.get(good.id).status == "succeeded"




def test_options_come_from_the_worker_settings() -> None:
    from config.settings import WorkerSettings

    settings = WorkerSettings(lease_s=50, heartbeat_s=5, max_attempts=2, batch_size=8, poll_interval_s=0.1, db_retry_max_s=9)
    assert WorkerOptions.from_settings(settings) == WorkerOptions(50, 5, 8, 2, 0.1, 9)


def test_a_renderer_that_cannot_batch_claims_one_job_at_a_time(queue: JobQueue) -> None:
    """Claiming four jobs to render one after another would only keep them from idle workers."""
    jobs = [queue.submit(submission(f"J{i}", candidates=1)) for i in range(3)]
    assert Worker(queue, TextDrawingRenderer(), FAST).run_once() == 1
    assert [queue.get(job.id).status for job in jobs] == ["succeeded", "queued", "queued"]


def test_a_running_worker_is_alive_until_it_stops_even_mid_render(queue: JobQueue) -> None:
    """Adapters tell a user "no worker is running" from this count, so it must hold through a long render
    (longer than the presence lifetime) and drop as soon as the worker stops."""
    # Counted by this worker's own row: on the shared PostgreSQL database a worker thread of another
    # test can still be renewing its presence (seen once in a full run: 2 instead of 1).
    job = queue.submit(submission("SLOW", num_inference_steps=20, sr_num_inference_steps=1))
    worker = Worker(queue, TextDrawingRenderer(step_delay_s=0.1), FAST)  # ~2 s of rendering; presence lasts ~0.6 s
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: queue.get(job.id).status == "running", 10)
        wait_for(lambda: (queue.get(job.id).progress_step or 0) >= 15, 10)  # well past the presence lifetime
        assert _alive(queue, worker.worker_id), _workers(queue)
        assert queue.live_workers() >= 1
        wait_for(lambda: queue.get(job.id).done, 10)
    finally:
        worker.stop()
        thread.join()
    assert not _alive(queue, worker.worker_id), _workers(queue)


def test_a_worker_that_crashes_stops_its_heartbeat_and_signs_off(queue: JobQueue) -> None:
    """A crashed worker must not go on counting as running: adapters would tell users a dead worker is
    on their job, and its beat would outlive the process's database."""
    class BrokenQueue(JobQueue):
        def claim(self, worker_id: str, **kwargs) -> list:  # noqa: ANN003
            raise RuntimeError("the renderer's driver crashed")

    worker = Worker(BrokenQueue(queue.db, queue.images), TextDrawingRenderer(), FAST)
    with pytest.raises(RuntimeError, match="driver crashed"):
        worker.run()
    assert worker.heartbeat.thread is None
    assert not _heartbeats_of(worker.worker_id)
    assert not _alive(queue, worker.worker_id), _workers(queue)


def test_run_once_on_its_own_leaves_no_heartbeat_running(queue: JobQueue) -> None:
    """A caller that claims one batch without the loop (tests, `run_job`) gets the beat only while it holds jobs."""
    queue.submit(submission("ONCE", candidates=1))
    worker = Worker(queue, TextDrawingRenderer(), FAST)
    assert worker.run_once() == 1
    assert not _heartbeats_of(worker.worker_id)


def _heartbeats_of(worker_id: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == f"heartbeat-{worker_id}" and thread.is_alive()]


def _workers(queue: JobQueue) -> list[tuple[str, object]]:
    """Every presence row, for the failure message: which other worker is renewing one."""
    from sqlalchemy import select

    from storage.models import WorkerRow

    with queue.db.read() as session:
        return [(row.worker_id, row.alive_until) for row in session.scalars(select(WorkerRow))]


def _alive(queue: JobQueue, worker_id: str) -> bool:
    """Whether the workers table says `worker_id` runs now (what live_workers counts, for one worker)."""
    from sqlalchemy import select

    from storage.models import WorkerRow

    with queue.db.read() as session:
        until = session.scalar(select(WorkerRow.alive_until).where(WorkerRow.worker_id == worker_id))
        return until is not None and until >= queue._now(session)


def test_a_worker_that_stops_reporting_is_not_counted(queue: JobQueue) -> None:
    # Judged by this worker's own row, as the test above does: once, on PostgreSQL, another test's worker
    # was still present for its last fraction of a second, and live_workers() said 2 where 1 was asserted.
    others = queue.live_workers()
    queue.worker_alive("lost-host:1:abc", ttl_s=0.3)
    assert _alive(queue, "lost-host:1:abc") and queue.live_workers() >= others + 1
    wait_for(lambda: not _alive(queue, "lost-host:1:abc"), 5)


# --- styles, reference pictures, boxes and tweens through the worker ---------------------------


class RecordingRenderer(TextDrawingRenderer):
    """Keeps every request it was given, so a test can see what the worker passed in."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RenderRequest] = []

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        self.requests.append(request)
        return super().render(request, progress)


def test_the_worker_passes_the_style_tokens_and_the_style_image(styled_queue: JobQueue, styles) -> None:  # noqa: ANN001
    from tests.storage.fixtures import add_style, png_of, safetensors_blob

    add_style(styles, "red", tokens=safetensors_blob(5))
    reference = png_of(16, 16)
    job = styled_queue.submit(submission("HELLO", style="red", style_image_png=reference, style_strength=0.3))
    renderer = RecordingRenderer()
    assert Worker(styled_queue, renderer, FAST).run(exit_when_idle=True) == 1
    [request] = renderer.requests
    assert (request.style, request.style_tokens, request.style_image_png, request.style_strength) == (
        "red", safetensors_blob(5), reference, 0.3)
    assert styled_queue.get(job.id).status == "succeeded"


def test_a_style_deleted_while_the_job_waited_fails_it_by_name_and_stores_nothing(styled_queue: JobQueue, styles) -> None:  # noqa: ANN001
    from tests.storage.fixtures import add_style

    add_style(styles, "red")
    job = styled_queue.submit(submission("HELLO", style="red"))
    styles.delete("red", "mia", reason="logo")
    renderer = RecordingRenderer()
    Worker(styled_queue, renderer, FAST).run(exit_when_idle=True)
    failed = styled_queue.get(job.id)
    assert failed.status == "failed" and re.fullmatch(r"style 'red' was deleted by mia on \d{4}-\d\d-\d\d \d\d:\d\d UTC", failed.error)
    assert renderer.requests == [] and styled_queue.images_of(job.id) == []


def test_a_tween_stores_its_frames_and_its_gif(styled_queue: JobQueue, store) -> None:  # noqa: ANN001
    job = styled_queue.submit(submission("OPEN", kind="tween", end_prompt="CLOSED", frames=5))
    assert Worker(styled_queue, TextDrawingRenderer(), FAST).run(exit_when_idle=True) == 1
    done = styled_queue.get(job.id)
    assert done.status == "succeeded" and done.progress_stage == "frame"
    images = styled_queue.images_of(job.id)
    assert [image.stage for image in images] == ["frame"] * 5 + ["gif"]
    assert [image.chosen for image in images] == [False] * 5 + [True]
    assert store.read(images[-1].sha256).startswith(b"GIF89a")
    assert all(store.read(image.sha256).startswith(b"\x89PNG") for image in images[:-1])


def test_the_box_keeps_every_pixel_outside_it(styled_queue: JobQueue, store) -> None:  # noqa: ANN001
    import io

    from PIL import Image, ImageChops

    photo = Image.new("RGB", (120, 80), (200, 30, 30))
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    job = styled_queue.submit(submission("SALE", init_image_png=buffer.getvalue(), box=(10, 20, 60, 30)))
    Worker(styled_queue, TextDrawingRenderer(), FAST).run(exit_when_idle=True)
    winner = next(image for image in styled_queue.images_of(job.id) if image.chosen)
    result = Image.open(io.BytesIO(store.read(winner.sha256))).convert("RGB")
    difference = ImageChops.difference(result, photo)
    assert difference.getbbox() is not None
    left, top, right, bottom = difference.getbbox()
    assert 10 <= left and 20 <= top and right <= 70 and bottom <= 50


def test_a_result_a_tween_cannot_use_fails_the_job(styled_queue: JobQueue) -> None:
    class NoGif(TextDrawingRenderer):
        def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
            result = super().render(request, progress)
            result.images[-1].png = b"\x89PNG not a gif"
            return result

    job = styled_queue.submit(submission("OPEN", kind="tween", end_prompt="SHUT", frames=2))
    Worker(styled_queue, NoGif(), FAST).run(exit_when_idle=True)
    failed = styled_queue.get(job.id)
    assert failed.status == "failed" and "stage 'gif' must be a GIF file" in failed.error
    assert styled_queue.images_of(job.id) == []


@pytest.mark.parametrize("picture", ["truncated", "bomb-header", "zero-by-zero"])
@pytest.mark.parametrize("field", ["init", "style"])
def test_a_stored_picture_the_gate_refuses_fails_its_job_in_one_line(styled_queue: JobQueue, store, field: str,  # noqa: ANN001
                                                                     picture: str) -> None:
    """The worker's second line: a picture stored before the gate, or changed in the store since, fails
    its job before the renderer decodes it, in one line naming it (not PIL's "image file is truncated")."""
    from tests.hostile_pictures import good_png, hostile_pictures

    from tests.storage.fixtures import png_of

    if field == "init":
        job = styled_queue.submit(submission("SALE", init_image_png=png_of(120, 80), box=(10, 20, 60, 30)))
        digest, what = job.init_image_hash, "the init image"
    else:
        job = styled_queue.submit(submission("SALE", style_image_png=good_png()))
        digest, what = job.style_image_hash, "the style image"
    store.path(digest).write_bytes(hostile_pictures()[picture])
    renderer = RecordingRenderer()
    Worker(styled_queue, renderer, FAST).run(exit_when_idle=True)
    failed = styled_queue.get(job.id)
    assert failed.status == "failed" and failed.error.startswith(f"{what} cannot be read: it "), failed.error
    assert "\n" not in failed.error and renderer.requests == [] and styled_queue.images_of(job.id) == []
