"""The real renderer: the trained cascade, reranked by OCR (what workers and `glyphbot imagine` run).

It glues `generation.pipeline.GlyphCascadePipeline` to `ocr.rerank.rejection_sample`: the pipeline
draws base candidates and super-resolves the survivors; the reranker reads them and picks the
winner. Every candidate of both stages comes back in the `RenderResult`, so storage can keep them.

Seeds: base candidate i uses `seed + i`; SR slot j uses `seed + SR_SEED_OFFSET + j` (a base candidate
can fill several SR slots, and each must draw its own noise). Base candidate i's glyph layout is drawn
from `seed + i` too, and travels with the candidate to the SR stage, which draws the same layout at
its own size.
"""

from __future__ import annotations

import contextlib
import io
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import torch
from PIL import Image

from generation.checkpoints import locate_checkpoints, resolve_device
from generation.layout import GlyphLayout, candidate_layouts
from generation.pipeline import MAX_SEED, GlyphCascadePipeline, ImageInputError, check_options, tensor_to_pil
from generation.types import Progress, ProgressCallback, RenderRequest, RenderResult
from ocr.policy import OcrSettings
from ocr.rerank import Candidate, rejection_sample

if TYPE_CHECKING:
    from config.settings import Settings

SR_SEED_OFFSET = 10_000


@dataclass(frozen=True)
class _BaseDraw:
    """What a base candidate hands on to the SR stage: its pixels and the layout it was drawn with."""

    pixels: torch.Tensor
    layout: GlyphLayout | None


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class CascadeRenderer:
    """Renders requests on one device, one or a compatible batch at a time; safe to reuse across requests."""

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

    def check(self, request: RenderRequest) -> None:
        """Raise what rendering `request` would raise for bad input (PromptError, OptionError,
        ImageInputError), at once: a command checks before it queues, so a bad request costs nothing."""
        check_options(request.guidance_scale, request.num_inference_steps, request.scheduler, request.strength)
        check_options(request.sr_guidance_scale, request.sr_num_inference_steps, request.scheduler)
        init_image = None
        if request.init_image_png is not None:
            try:
                init_image = Image.open(io.BytesIO(request.init_image_png))
                init_image.load()
            except (OSError, Image.DecompressionBombError) as error:
                raise ImageInputError(f"the init image cannot be read: {error}") from None
        self.pipeline.check_inputs(
            [request.prompt], [request.negative_prompt or None], init_image, request.layout, request.font, request.align
        )

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        return self.render_batch([request], [progress])[0]

    def render_batch(
        self, requests: Sequence[RenderRequest], progress: Sequence[ProgressCallback | None]
    ) -> list[RenderResult]:
        """Several jobs at once: their base candidates share one GPU batch, then each is reranked and
        super-resolved on its own (OCR decides per job which candidates go on to SR).

        The worker batches only jobs with the same storage batch key; requests that differ in what the
        base stage shares (guidance, steps, sampler, img2img strength) raise ValueError, and the worker
        then renders them one by one.
        """
        _check_shared_base_settings(requests)
        seeds = [request.seed if request.seed is not None else secrets.randbelow(MAX_SEED - SR_SEED_OFFSET - 64)
                 for request in requests]
        listeners = _Listeners(progress)
        bases = self._base_candidates(requests, seeds, listeners)
        results = []
        for index, (request, seed, base) in enumerate(zip(requests, seeds, bases, strict=True)):
            if index in listeners.stopped:
                results.append(RenderResult())  # cancelled meanwhile: the worker drops this job's outcome
                continue

            def make_base(count: int, base: list[Candidate] = base) -> list[Candidate]:
                return base[:count]

            super_resolve = self._super_resolver(request, seed, listeners.only(index)) if self.pipeline.sr_unet is not None else None
            ranking = rejection_sample(request.prompt, request.candidates, make_base, super_resolve, self.reader, self.ocr_settings)
            results.append(ranking.to_render_result())
        return results

    def _base_candidates(self, requests: Sequence[RenderRequest], seeds: list[int], listeners: _Listeners) -> list[list[Candidate]]:
        """One base-stage call for every candidate of every request; candidate i of a request uses seed + i."""
        first = requests[0]
        owners = [index for index, request in enumerate(requests) for _ in range(request.candidates)]
        candidate_seeds = [seeds[index] + slot for index, request in enumerate(requests) for slot in range(request.candidates)]
        init_images = None
        if first.init_image_png is not None:
            opened = [Image.open(io.BytesIO(request.init_image_png)) for request in requests]
            init_images = [opened[index] for index in owners]
        layouts = [
            layout
            for index, request in enumerate(requests)
            for layout in self.pipeline.layouts(
                [request.prompt] * request.candidates, [s for owner, s in zip(owners, candidate_seeds) if owner == index],
                request.layout, request.font, request.align,
            )
        ]
        images = self.pipeline.generate_base(
            [requests[index].prompt for index in owners], [requests[index].negative_prompt or None for index in owners],
            candidate_seeds, first.guidance_scale, first.num_inference_steps, first.scheduler, init_images, first.strength,
            listeners.step_callback(), layouts,
        )
        pil = tensor_to_pil(images)
        bases: list[list[Candidate]] = [[] for _ in requests]
        for position, (index, image, seed) in enumerate(zip(owners, pil, candidate_seeds)):
            bases[index].append(Candidate(image, seed, "base", payload=_BaseDraw(images[position : position + 1], layouts[position])))
        for index, (base, request) in enumerate(zip(bases, requests)):
            listeners.tell(index, Progress("base", request.num_inference_steps, request.num_inference_steps, _png(base[0].image)))
        return bases

    def _super_resolver(self, request: RenderRequest, seed: int, listeners: _Listeners) -> Callable[[list[Candidate]], list[Candidate]]:
        negative = request.negative_prompt or None

        def super_resolve(inputs: list[Candidate]) -> list[Candidate]:
            seeds = [seed + SR_SEED_OFFSET + slot for slot in range(len(inputs))]
            images = self.pipeline.upscale(
                [request.prompt] * len(inputs), torch.cat([c.payload.pixels for c in inputs]), [negative] * len(inputs), seeds,
                request.sr_guidance_scale, request.sr_num_inference_steps, request.scheduler,
                callback_on_step_end=listeners.step_callback(), layouts=[c.payload.layout for c in inputs],
            )
            return [Candidate(image, s, "sr") for image, s in zip(tensor_to_pil(images), seeds)]

        return super_resolve


class LayoutFontRenderer:
    """The ceiling of the text-accuracy benchmark: each candidate's own layout (the one the cascade
    would follow) drawn with its font, dark on light, at the final size, and reranked by the same OCR.
    The score a cascade that copied its glyph map perfectly would get; no model is loaded."""

    def __init__(self, size: int, ocr_settings: OcrSettings) -> None:
        self.size = size
        self.ocr_settings = ocr_settings
        self.reader = ocr_settings.reader()

    def _draw(self, layout: GlyphLayout | None) -> Image.Image:
        paper = (245, 242, 235)
        return Image.new("RGB", (self.size, self.size), paper) if layout is None else layout.render(self.size, (20, 20, 20), paper)

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        seed = request.seed or 0

        def make_base(count: int) -> list[Candidate]:
            seeds = [seed + slot for slot in range(count)]
            layouts = candidate_layouts([request.prompt] * count, seeds, "glyph", request.font, request.align)
            return [Candidate(self._draw(layout), s, "base") for layout, s in zip(layouts, seeds)]

        return rejection_sample(request.prompt, request.candidates, make_base, None, self.reader, self.ocr_settings).to_render_result()

    def free_memory(self) -> None:
        """Nothing to free: no model is loaded."""


def _check_shared_base_settings(requests: Sequence[RenderRequest]) -> None:
    if not requests:
        raise ValueError("render_batch needs at least one request")
    shared = {(r.guidance_scale, r.num_inference_steps, r.scheduler, r.init_image_png is not None,
               r.strength if r.init_image_png is not None else None) for r in requests}
    if len(shared) > 1:
        raise ValueError("these requests differ in guidance, steps, sampler or img2img strength; render them apart")


class _Listeners:
    """The progress callbacks of the jobs in one render, fed from the pipeline's step callback.

    The worker's callback raises to say "this job was cancelled": alone, that stops the render; in a
    batch, only that job stops listening and the others render on (its outcome is dropped anyway).
    """

    def __init__(self, callbacks: Sequence[ProgressCallback | None], indices: Sequence[int] | None = None) -> None:
        self.callbacks = list(callbacks)
        self.indices = list(range(len(self.callbacks))) if indices is None else list(indices)
        self.stopped: set[int] = set()

    def only(self, index: int) -> _Listeners:
        alone = _Listeners(self.callbacks, [index])
        alone.stopped = self.stopped
        return alone

    def tell(self, index: int, event: Progress) -> None:
        callback = self.callbacks[index]
        if callback is None or index in self.stopped:
            return
        try:
            callback(event)
        except Exception:
            if len(self.callbacks) == 1:
                raise
            self.stopped.add(index)

    def step_callback(self) -> Callable[[GlyphCascadePipeline, int, int, dict], None]:
        def on_step(_pipe: GlyphCascadePipeline, step: int, _timestep: int, kwargs: dict) -> None:
            event = Progress(kwargs["stage"], step + 1, kwargs["total_steps"])
            for index in self.indices:
                self.tell(index, event)

        return on_step


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
