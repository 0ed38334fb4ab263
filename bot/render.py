"""The real renderer: the trained cascade, reranked by OCR (what workers and `glyphbot imagine` run).

It glues `generation.pipeline.GlyphCascadePipeline` to `ocr.rerank.rejection_sample`: the pipeline
draws base candidates and super-resolves the survivors; the reranker reads them and picks the
winner. Every candidate of both stages comes back in the `RenderResult`, so storage can keep them.

Seeds: base candidate i uses `seed + i`; SR slot j uses `seed + SR_SEED_OFFSET + j` (a base candidate
can fill several SR slots, and each must draw its own noise).
"""

from __future__ import annotations

import contextlib
import io
import secrets
from typing import TYPE_CHECKING, Iterator

import torch
from PIL import Image

from generation.checkpoints import locate_checkpoints, resolve_device
from generation.pipeline import MAX_SEED, GlyphCascadePipeline, tensor_to_pil
from generation.types import Progress, ProgressCallback, RenderRequest, RenderResult
from ocr.policy import OcrSettings
from ocr.rerank import Candidate, rejection_sample

if TYPE_CHECKING:
    from config.settings import Settings

SR_SEED_OFFSET = 10_000


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class CascadeRenderer:
    """Renders one request at a time on one device; safe to reuse across requests."""

    def __init__(self, pipeline: GlyphCascadePipeline, ocr_settings: OcrSettings) -> None:
        self.pipeline = pipeline
        self.ocr_settings = ocr_settings
        self.reader = ocr_settings.reader()

    @classmethod
    def from_settings(cls, settings: "Settings") -> "CascadeRenderer":
        """Load the configured checkpoints (raises CheckpointMissingError when none is trained)."""
        shipped = locate_checkpoints(settings.generation.checkpoint_dir)
        device = resolve_device(settings.generation.device)
        pipeline = GlyphCascadePipeline.from_checkpoints(shipped.base, shipped.sr, device=device)
        pipeline.set_progress_bar_config(disable=True)
        ocr = settings.ocr.model_dump()
        if not ocr["parallel_workers"]:
            del ocr["parallel_workers"]  # 0 in the config means "one per core": OcrSettings' own default
        return cls(pipeline, OcrSettings(**ocr))

    def free_memory(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED - SR_SEED_OFFSET - 64)
        negative = request.negative_prompt or None
        init_image = Image.open(io.BytesIO(request.init_image_png)) if request.init_image_png else None

        def step_reporter(pipe: GlyphCascadePipeline, step: int, _timestep: int, kwargs: dict) -> None:
            if progress is not None:
                progress(Progress(kwargs["stage"], step + 1, kwargs["total_steps"]))

        def make_base(count: int) -> list[Candidate]:
            seeds = [seed + index for index in range(count)]
            images = self.pipeline.generate_base(
                [request.prompt] * count, [negative] * count, seeds, request.guidance_scale,
                request.num_inference_steps, request.scheduler, init_image, request.strength, step_reporter,
            )
            pil = tensor_to_pil(images)
            if progress is not None:
                progress(Progress("base", request.num_inference_steps, request.num_inference_steps, _png(pil[0])))
            return [Candidate(image, s, "base", payload=images[i : i + 1]) for i, (image, s) in enumerate(zip(pil, seeds))]

        def super_resolve(inputs: list[Candidate]) -> list[Candidate]:
            seeds = [seed + SR_SEED_OFFSET + slot for slot in range(len(inputs))]
            images = self.pipeline.upscale(
                [request.prompt] * len(inputs), torch.cat([c.payload for c in inputs]), [negative] * len(inputs), seeds,
                request.sr_guidance_scale, request.sr_num_inference_steps, request.scheduler,
                callback_on_step_end=step_reporter,
            )
            return [Candidate(image, s, "sr") for image, s in zip(tensor_to_pil(images), seeds)]

        ranking = rejection_sample(
            request.prompt, request.candidates, make_base, super_resolve if self.pipeline.sr_unet is not None else None,
            self.reader, self.ocr_settings,
        )
        return ranking.to_render_result()


@contextlib.contextmanager
def cli_progress() -> Iterator[ProgressCallback]:
    """A rich progress bar per stage for the terminal, fed by the renderer's Progress reports."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

    with Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False) as bar:
        tasks: dict[str, int] = {}

        def report(event: Progress) -> None:
            if event.stage not in tasks:
                label = "base candidates" if event.stage == "base" else "super-resolution"
                tasks[event.stage] = bar.add_task(label, total=event.total_steps)
            bar.update(tasks[event.stage], completed=event.step, total=event.total_steps)

        yield report
