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

import io
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import torch
from PIL import Image

from generation.checkpoints import locate_checkpoints, resolve_device
from generation.guidance import CleanEdit
from generation.layout import Layout, reading_quads
from generation.templates import candidate_layouts
from generation.captioned_picture import CaptionedPicture
from generation.photo import PhotoPlan, plan_photo
from generation.pipeline import GlyphCascadePipeline, ImageInputError, OptionError, sr_seeds, tensor_to_pil
from generation.request_options import first_problem
from generation.request_parsers import MAX_SEED, SR_SEED_OFFSET, png_bytes
from generation.styles import StyleTokens, model_hash
from generation.tween import animated_gif, check_tween, tween_frames, tween_layouts
from generation.types import Progress, ProgressCallback, RenderedImage, RenderRequest, RenderResult, tween_conflicts
from ocr.policy import OcrSettings
from ocr.reader import Reader
from ocr.rerank import BatchReader, Candidate, rejection_sample

if TYPE_CHECKING:
    from config.settings import Settings

DEFAULT_MAX_GIF_BYTES = 8_000_000


@dataclass(frozen=True)
class _BaseDraw:
    """What a base candidate hands on to the SR stage: its pixels and the layout it was drawn with."""

    pixels: torch.Tensor
    layout: Layout | None


class CascadeRenderer:
    """Renders requests on one device, one or a compatible batch at a time; safe to reuse across requests."""

    def __init__(self, pipeline: GlyphCascadePipeline, ocr_settings: OcrSettings, max_gif_bytes: int = DEFAULT_MAX_GIF_BYTES) -> None:
        self.pipeline = pipeline
        self.ocr_settings = ocr_settings
        self.reader = ocr_settings.reader()
        self.max_gif_bytes = max_gif_bytes
        self._model_hashes: dict[bool, str] = {}  # with the SR model or not -> model_hash

    @classmethod
    def from_settings(cls, settings: "Settings") -> "CascadeRenderer":
        """Load the configured checkpoints (raises CheckpointMissingError when none is trained)."""
        shipped = locate_checkpoints(settings.generation.checkpoint_dir)
        device = resolve_device(settings.generation.device)
        pipeline = GlyphCascadePipeline.from_checkpoints(shipped.base, shipped.sr, device=device)
        pipeline.set_progress_bar_config(disable=True)
        return cls(pipeline, OcrSettings.from_config(settings.ocr.model_dump()), settings.generation.max_gif_bytes)

    def free_memory(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def check(self, request: RenderRequest) -> None:
        """Raise what rendering `request` would raise for bad input (PromptError, OptionError,
        ImageInputError), at once: a command checks before it queues, so a bad request costs nothing."""
        problem = first_problem(request)  # the spine's ranges and choices, as storage checks them
        if problem:
            raise OptionError(problem)
        init_image = None if request.init_image_png is None else _open_png(request.init_image_png, "the init image")
        if request.style_image_png is not None:
            _open_png(request.style_image_png, "the style image")
        if request.style_tokens is not None:
            self._style(request)
        if request.box is not None:
            if init_image is None:
                raise ImageInputError("a box needs a picture to write into (--image)")
            plan_photo(init_image, request.box).layouts(request.prompt, [0], request.font, request.align)
            init_image = None  # the picture is written into, not an img2img start
        elif _captions_a_picture(request):
            CaptionedPicture.of(init_image).layouts(request.prompt, [0], request.font)
            init_image = None  # the picture is captioned, not an img2img start
        if request.kind == "tween":
            _check_tween_options(request)
            check_tween(request.prompt, request.end_prompt, request.frames)
            self.pipeline.check_inputs([request.end_prompt], None, None, request.layout, request.font, request.align)
            tween_layouts(request.prompt, request.end_prompt, 0, request.frames, request.font, request.align)
        self.pipeline.check_inputs(
            [request.prompt], [request.negative_prompt or None], init_image, request.layout, request.font, request.align,
            template=request.template,
        )

    def _style(self, request: RenderRequest) -> StyleTokens | None:
        """The request's learned style, checked against these models: one learned for another
        architecture, or on other weights of them (a new shipped model), is refused, naming
        `glyphbot style relearn`, instead of being silently misapplied."""
        if request.style_tokens is None:
            return None
        style = StyleTokens.from_bytes(request.style_tokens)
        style.check_fits(self.pipeline.base_unet, self.pipeline.sr_unet)
        style.check_current(self._model_hash)
        return style

    def _model_hash(self, with_sr: bool) -> str:
        """The models' fingerprint (generation.styles.model_hash), the base's alone or with the SR model's;
        taken once, outside any job's adapter (render applies it after `_style`)."""
        if with_sr not in self._model_hashes:
            models = (self.pipeline.base_unet, self.pipeline.sr_unet) if with_sr and self.pipeline.sr_unet is not None else (self.pipeline.base_unet,)
            self._model_hashes[with_sr] = model_hash(*models)
        return self._model_hashes[with_sr]

    def _look(self, request: RenderRequest, style: StyleTokens | None):  # noqa: ANN202  Image | Palette | None
        """What the colours steer towards: the reference picture, else the style's palette, else nothing."""
        if request.style_image_png is not None:
            return Image.open(io.BytesIO(request.style_image_png))
        return None if style is None else style.palette

    def _steering(self, request: RenderRequest, style: StyleTokens | None, layouts, size: int, picture: PictureWriter | None = None) -> list[CleanEdit]:  # noqa: ANN001
        """The edits that steer each sampling step: the asked look's colours; with the user's picture,
        keeping it outside the text's part, and (a photo's box, no look asked) the photo's own colours
        under the text."""
        edits: list[CleanEdit] = []
        look = self._look(request, style)
        if look is not None:
            edits.append(self.pipeline.colour_guidance(look, layouts, size, request.style_strength))
        if picture is not None:
            edits.extend(picture.steering(layouts, size, lend_colours=look is None))
        return edits

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        """One job; a LoRA style's adapter is in the base model for this job only."""
        style = self._style(request)
        with self.pipeline.styled(style, request.style_strength):
            return self._render_one(request, progress, style)

    def _render_one(self, request: RenderRequest, progress: ProgressCallback | None, style: StyleTokens | None) -> RenderResult:
        if request.kind == "tween":
            return self._render_tween(request, _Listeners([progress]))
        if request.box is not None:
            photo = plan_photo(_open_png(request.init_image_png, "the picture"), request.box)
            return self._render_onto_picture(request, _Listeners([progress]), style, photo,
                                             lambda seeds: photo.layouts(request.prompt, seeds, request.font, request.align), _BoxReader(self.reader, photo))
        if _captions_a_picture(request):
            picture = CaptionedPicture.of(_open_png(request.init_image_png, "the picture"))
            return self._render_onto_picture(request, _Listeners([progress]), style, picture, lambda seeds: picture.layouts(request.prompt, seeds, request.font))
        return self._render_stills([request], [progress], style)[0]

    def render_batch(
        self, requests: Sequence[RenderRequest], progress: Sequence[ProgressCallback | None]
    ) -> list[RenderResult]:
        """Several jobs at once: their base candidates share one GPU batch, then each is reranked and
        super-resolved on its own (OCR decides per job which candidates go on to SR).

        The worker batches only jobs with the same storage batch key; requests that differ in what the
        base stage shares (guidance, steps, sampler, img2img strength) raise ValueError, and the worker
        then renders them one by one.
        """
        _check_shared_base_settings(requests)  # a styled request is alone in its batch
        if len(requests) == 1:
            return [self.render(requests[0], progress[0])]
        return self._render_stills(requests, progress, None)

    def _render_stills(
        self, requests: Sequence[RenderRequest], progress: Sequence[ProgressCallback | None], style: StyleTokens | None
    ) -> list[RenderResult]:
        """Still pictures drawn from the prompt alone (no user's picture to write into), their base
        candidates in one batch; `style` is the one request's checked style (a styled request is alone)."""
        seeds = [_first_seed(request) for request in requests]
        listeners = _Listeners(progress)
        bases = self._base_candidates(requests, seeds, listeners, style)
        results = []
        for index, (request, seed, base) in enumerate(zip(requests, seeds, bases, strict=True)):
            if index in listeners.stopped:
                results.append(RenderResult())  # cancelled meanwhile: the worker drops this job's outcome
                continue
            results.append(self._cascade(request, seed, listeners.only(index), style, lambda count, base=base: base[:count]))
        return results

    def _cascade(
        self, request: RenderRequest, seed: int, listeners: _Listeners, style: StyleTokens | None,
        make_base: Callable[[int], list[Candidate]], picture: PictureWriter | None = None, reader: BatchReader | None = None,
    ) -> RenderResult:
        """The one cascade every still picture runs: base candidates from `make_base`, read and pruned,
        the survivors super-resolved (into the user's `picture`, when there is one), read, the best chosen."""
        super_resolve = self._super_resolver(request, seed, listeners, style, picture) if self.pipeline.sr_unet is not None else None
        ranking = rejection_sample(request.prompt, request.candidates, make_base, super_resolve, reader or self.reader, self.ocr_settings)
        return ranking.to_render_result()

    def _base_candidates(
        self, requests: Sequence[RenderRequest], seeds: list[int], listeners: _Listeners, style: StyleTokens | None
    ) -> list[list[Candidate]]:
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
                request.layout, request.font, request.align, template=request.template,
            )
        ]
        images = self.pipeline.generate_base(
            [requests[index].prompt for index in owners], negative_prompts=[requests[index].negative_prompt or None for index in owners],
            seeds=candidate_seeds, guidance_scale=first.guidance_scale, num_inference_steps=first.num_inference_steps,
            scheduler=first.scheduler, image=init_images, strength=first.strength, callback_on_step_end=listeners.step_callback(),
            layouts=layouts, style=style, clean_edits=self._steering(first, style, layouts, self.pipeline.base_unet.config.sample_size),
        )
        pil = tensor_to_pil(images)
        bases: list[list[Candidate]] = [[] for _ in requests]
        for position, (index, image, seed) in enumerate(zip(owners, pil, candidate_seeds)):
            layout = layouts[position]
            bases[index].append(Candidate(image, seed, "base", payload=_BaseDraw(images[position : position + 1], layout), text_quads=reading_quads(layout)))
        for index, (base, request) in enumerate(zip(bases, requests)):
            listeners.tell(index, Progress("base", request.num_inference_steps, request.num_inference_steps, png_bytes(base[0].image)))
        return bases

    def _super_resolver(
        self, request: RenderRequest, seed: int, listeners: _Listeners, style: StyleTokens | None, picture: PictureWriter | None = None
    ) -> Callable[[list[Candidate]], list[Candidate]]:
        """SR of surviving base candidates; with the user's `picture` (a photo's box, or a meme's captions),
        only the text's part is redrawn and pasted into the picture."""
        negative = request.negative_prompt or None
        size = self.pipeline.sr_unet.config.sample_size

        def super_resolve(inputs: list[Candidate]) -> list[Candidate]:
            seeds = sr_seeds([seed + slot for slot in range(len(inputs))])
            layouts = [c.payload.layout for c in inputs]
            images = self.pipeline.upscale(
                [request.prompt] * len(inputs), torch.cat([c.payload.pixels for c in inputs]), negative_prompts=[negative] * len(inputs),
                seeds=seeds, guidance_scale=request.sr_guidance_scale, num_inference_steps=request.sr_num_inference_steps,
                scheduler=request.scheduler, callback_on_step_end=listeners.step_callback(), layouts=layouts,
                clean_edits=self._steering(request, style, layouts, size, picture),
                grain=None if style is None else style.grain, grain_strength=request.style_strength,
            )
            pictures = tensor_to_pil(images)
            if picture is not None:
                pictures = [picture.paste(drawn, layout) for drawn, layout in zip(pictures, layouts)]
            # With the user's picture the layout is the text's part only: read the whole picture, as before.
            quads = [None if picture is not None else reading_quads(layout) for layout in layouts]
            return [Candidate(drawn, s, "sr", text_quads=q) for drawn, s, q in zip(pictures, seeds, quads)]

        return super_resolve

    def _render_onto_picture(
        self, request: RenderRequest, listeners: _Listeners, style: StyleTokens | None, picture: PictureWriter,
        lay_out: Callable[[list[int]], list[Layout]], reader: BatchReader | None = None,
    ) -> RenderResult:
        """Write the prompt into the user's picture (a photo's box, a meme's captions): each candidate
        lays its text out from its own seed, the model redraws only the text's part, and every pixel
        outside it stays the user's. `reader` reads what a candidate is judged by (a photo: its box)."""
        seed = _first_seed(request)
        base_size = self.pipeline.base_unet.config.sample_size

        def make_base(count: int) -> list[Candidate]:
            seeds = [seed + slot for slot in range(count)]
            layouts = lay_out(seeds)
            images = self.pipeline.generate_base(
                [request.prompt] * count, negative_prompts=[request.negative_prompt or None] * count, seeds=seeds,
                guidance_scale=request.guidance_scale, num_inference_steps=request.num_inference_steps,
                scheduler=request.scheduler, callback_on_step_end=listeners.step_callback(), layouts=layouts,
                style=style, clean_edits=self._steering(request, style, layouts, base_size, picture),
            )
            drawn = [picture.paste(image, layout) for image, layout in zip(tensor_to_pil(images), layouts)]
            listeners.tell(0, Progress("base", request.num_inference_steps, request.num_inference_steps, png_bytes(drawn[0])))
            return [Candidate(image, s, "base", payload=_BaseDraw(images[i : i + 1], layouts[i])) for i, (image, s) in enumerate(zip(drawn, seeds))]

        return self._cascade(request, seed, listeners, style, make_base, picture, reader)

    def _render_tween(self, request: RenderRequest, listeners: _Listeners) -> RenderResult:
        """A tween job: every frame (stage "frame") and the animated GIF of them (stage "gif", chosen)."""
        _check_tween_options(request)
        seed = _first_seed(request)
        frames = tween_frames(
            self.pipeline, request.prompt, request.end_prompt, request.frames, seed, request.guidance_scale,
            request.sr_guidance_scale, request.num_inference_steps, request.sr_num_inference_steps, request.scheduler,
            request.font, request.align, listeners.step_callback(),
        )
        gif = animated_gif(frames, self.max_gif_bytes)
        images = [RenderedImage("frame", seed, png_bytes(frame), frame.width, frame.height) for frame in frames]
        images.append(RenderedImage("gif", seed, gif, frames[0].width, frames[0].height, chosen=True))
        return RenderResult(images)


class LayoutFontRenderer:
    """The ceiling of the text-accuracy benchmark: each candidate's own layout (the one the cascade
    would follow) drawn with its font, dark on light, at the final size, and reranked by the same OCR.
    The score a cascade that copied its glyph map perfectly would get; no model is loaded."""

    def __init__(self, size: int, ocr_settings: OcrSettings) -> None:
        self.size = size
        self.ocr_settings = ocr_settings
        self.reader = ocr_settings.reader()

    def _draw(self, layout: Layout | None) -> Image.Image:
        paper = (245, 242, 235)
        return Image.new("RGB", (self.size, self.size), paper) if layout is None else layout.render(self.size, (20, 20, 20), paper)

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        seed = request.seed or 0

        def make_base(count: int) -> list[Candidate]:
            seeds = [seed + slot for slot in range(count)]
            layouts = candidate_layouts([request.prompt] * count, seeds, "glyph", request.font, request.align, request.template)
            return [Candidate(self._draw(layout), s, "base", text_quads=reading_quads(layout)) for layout, s in zip(layouts, seeds)]

        return rejection_sample(request.prompt, request.candidates, make_base, None, self.reader, self.ocr_settings).to_render_result()

    def free_memory(self) -> None:
        """Nothing to free: no model is loaded."""


def _first_seed(request: RenderRequest) -> int:
    """The request's seed, or a random one that leaves room for every candidate's and SR slot's seed
    (`seed + i`, `seed + SR_SEED_OFFSET + j`) below MAX_SEED."""
    return request.seed if request.seed is not None else secrets.randbelow(MAX_SEED - SR_SEED_OFFSET - 64)


def _check_shared_base_settings(requests: Sequence[RenderRequest]) -> None:
    if not requests:
        raise ValueError("render_batch needs at least one request")
    shared = {(r.guidance_scale, r.num_inference_steps, r.scheduler, r.init_image_png is not None,
               r.strength if r.init_image_png is not None else None) for r in requests}
    alone = any(r.kind != "imagine" or r.box is not None or r.style_tokens is not None or r.style_image_png is not None
                or _captions_a_picture(r) for r in requests)
    if len(shared) > 1 or (alone and len(requests) > 1):
        raise ValueError("these requests differ in guidance, steps, sampler, img2img strength or style, or write into a "
                         "photo or tween; render them apart")


def _captions_a_picture(request: RenderRequest) -> bool:
    """A meme of the user's own picture: its captions are written over it (generation.captioned_picture)."""
    return request.init_image_png is not None and request.box is None and request.template == "meme" and request.kind == "imagine"


class PictureWriter(Protocol):
    """The user's picture that a request writes into (generation.photo.PhotoPlan, a box of a photo;
    generation.captioned_picture.CaptionedPicture, a meme's captions): how it steers sampling (what to
    keep; the colours it lends the text unless a look was asked for), and how to paste."""

    def steering(self, layouts: Sequence[Layout], size: int, lend_colours: bool) -> list[CleanEdit]: ...

    def paste(self, drawn: Image.Image, layout: Layout) -> Image.Image: ...


def _check_tween_options(request: RenderRequest) -> None:
    conflict = tween_conflicts(request)
    if conflict:
        raise OptionError(conflict)


def _open_png(data: bytes | None, what: str) -> Image.Image:
    """Decode an uploaded picture, or ImageInputError naming which one is unreadable."""
    if data is None:
        raise ImageInputError(f"{what} is missing")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as error:
        raise ImageInputError(f"{what} cannot be read: {error}") from None
    return image


class _BoxReader:
    """OCR that reads only a photo's box: the rest of the user's picture may hold text of its own."""

    def __init__(self, reader: Reader, photo: PhotoPlan) -> None:
        self.reader = reader.for_photo_boxes()
        self.photo = photo

    def read_many(self, sources):  # noqa: ANN001, ANN201  same as BatchReader.read_many
        return self.reader.read_many([self.photo.box_region(image) for image in sources])


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

