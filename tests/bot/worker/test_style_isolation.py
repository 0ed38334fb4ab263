"""A long-running worker with the real renderer on tiny models: a LoRA style's adapters are in the base
and SR models for its own job only, also when that job fails half-way, and a style learned on other
weights fails its job in one line that names `glyphbot style relearn`."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from bot.render.cascade import CascadeRenderer
from bot.worker import Worker, WorkerOptions
from generation.style_adapters import expected_shapes, has_adapter
from generation.styles import StyleTokens, model_hash
from ocr.policy import OcrSettings
from storage.jobs import JobQueue
from tests.storage.fixtures import EXAMPLES, submission

ONE_AT_A_TIME = WorkerOptions(lease_s=30, heartbeat_s=0.2, batch_size=1, poll_interval_s=0.02, max_attempts=1)
TINY = dict(seed=3, candidates=1, num_inference_steps=2, sr_num_inference_steps=1, scheduler="ddim")


def _lora_style(pipe, learned_on: str | None = None) -> bytes:
    """A LoRA style with random adapters for both stages of `pipe`."""
    generator = torch.Generator().manual_seed(5)
    base, sr = ({key: torch.randn(shape, generator=generator) * 0.3 for key, shape in expected_shapes(unet, 2).items()}
                for unet in (pipe.base_unet, pipe.sr_unet))
    return StyleTokens("neon", None, None, learned_on or model_hash(pipe.base_unet, pipe.sr_unet), 5, 0.1, base, 2, ("AB", "CD", "EF"),
                       sr_adapter=sr, sr_steps=3).to_bytes()


def _winner(queue: JobQueue, job_id: int) -> np.ndarray:
    [chosen] = [image for image in queue.images_of(job_id) if image.chosen]
    return np.asarray(Image.open(io.BytesIO(queue.images.read(chosen.sha256))).convert("RGB"))


def test_no_adapter_outlives_its_job_in_a_long_running_worker(styled_queue: JobQueue, styles, tiny_pipe, monkeypatch) -> None:  # noqa: ANN001
    renderer = CascadeRenderer(tiny_pipe, OcrSettings(parallel_workers=1))
    styles.add("neon", "alice", EXAMPLES, 5, 0.1, _lora_style(tiny_pipe), "tiny", method="lora")
    real_upscale = tiny_pipe.upscale
    failures = iter([True])  # the first styled job's SR stage fails half-way, as a GPU error would

    def upscale(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if has_adapter(tiny_pipe.sr_unet) and next(failures, False):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real_upscale(*args, **kwargs)

    monkeypatch.setattr(tiny_pipe, "upscale", upscale)
    before = styled_queue.submit(submission("AB", **TINY))
    failed = styled_queue.submit(submission("AB", style="neon", style_strength=1.0, **TINY))
    styled = styled_queue.submit(submission("AB", style="neon", style_strength=1.0, **TINY))
    after = styled_queue.submit(submission("AB", **TINY))
    assert Worker(styled_queue, renderer, ONE_AT_A_TIME).run(exit_when_idle=True) == 4

    assert styled_queue.get(failed.id).status == "failed" and "illegal memory access" in styled_queue.get(failed.id).error
    assert [styled_queue.get(job.id).status for job in (before, styled, after)] == ["succeeded"] * 3
    assert not has_adapter(tiny_pipe.base_unet) and not has_adapter(tiny_pipe.sr_unet)
    assert not np.array_equal(_winner(styled_queue, styled.id), _winner(styled_queue, before.id))
    # The plain job after the styled ones draws exactly what the one before them drew.
    assert np.array_equal(_winner(styled_queue, after.id), _winner(styled_queue, before.id))


def test_a_style_learned_on_other_weights_fails_its_job_naming_relearn(styled_queue: JobQueue, styles, tiny_pipe) -> None:  # noqa: ANN001
    renderer = CascadeRenderer(tiny_pipe, OcrSettings(parallel_workers=1))
    styles.add("neon", "alice", EXAMPLES, 5, 0.1, _lora_style(tiny_pipe, learned_on="0123456789abcdef"), "old", method="lora")
    job = styled_queue.submit(submission("AB", style="neon", **TINY))
    Worker(styled_queue, renderer, ONE_AT_A_TIME).run(exit_when_idle=True)
    failed = styled_queue.get(job.id)
    assert failed.status == "failed" and "\n" not in failed.error
    assert "was learned on other base and SR models" in failed.error and "`glyphbot style relearn neon`" in failed.error
    assert styled_queue.images_of(job.id) == []


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
