"""The cascaded sampling pipeline: base model, then super-resolution, with classifier-free guidance.

Every candidate gets its own seed and its own random generator, so a candidate's pixels depend on
its seed alone, not on the batch it was drawn in: the OCR reranker can report a winner's seed and a
user can reproduce it exactly.

Guidance uses the diffusers form `uncond + g * (cond - uncond)`: g = 0 is the unconditional model,
g = 1 the conditional one. The original's `(1 + s) * cond - s * uncond` with s in 1..4 is g = 1 + s.
The unconditional branch reads the mask prompt, or the negative prompt ("antiprompt") when one is
given, so steering away from a text works exactly like steering towards one.

Both stages read a glyph map (see `generation.layout`). Each candidate's layout is drawn from its
own seed (font, alignment, size, position), so OCR reranking chooses among layouts as well as among
samples, and the SR stage draws the same layout at its own size. The unconditional branch gets a
blank map. A candidate whose layout is None is drawn without a map (the original autoresponder model's glyph-free mode).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from diffusers import DDPMScheduler, DiffusionPipeline
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from PIL import Image

from generation.colour import Palette, centre_square, split_two_colours
from generation.film_grain import FilmGrain, add_grain
from generation.guidance import CleanEdit, ColourGuidance, apply_clean_edits
from generation.layout import Layout, stacked_maps
from generation.templates import candidate_layouts
from generation.schedulers import SAMPLERS, sampling_scheduler
from generation.styles import StyleTokens
from generation.text_encoder import TextBlend
from generation.tokenizer import GlyphTokenizer, PromptError, TokenizedBatch
from generation.request_parsers import MAX_SEED, SR_SEED_OFFSET
from generation.types import LAYOUT_MODES
from generation.unet import GlyphUNet2DModel
from generation.variance import split_learned_variance

StepCallback = Callable[["GlyphCascadePipeline", int, int, dict[str, Any]], Any]


class ImageInputError(ValueError):
    """An init image (img2img) or low-res image the pipeline cannot use, and why."""


class OptionError(ValueError):
    """A sampling option outside its valid range."""


@dataclass
class GlyphPipelineOutput(BaseOutput):
    """Final images, the base stage's images they came from, and each candidate's seed."""

    images: Any
    base_images: Any
    seeds: list[int]
    layouts: list[Layout | None]


@dataclass(frozen=True)
class _Steering:
    """What steers one stage's sampling besides prompt and glyph map: a style's vectors, a second text
    blended in (tweening), and edits of the predicted clean image (generation.guidance)."""

    style_embeds: torch.Tensor | None = None
    blend: TextBlend | None = None
    clean_edits: tuple[CleanEdit, ...] = ()


def check_options(guidance_scale: float, num_inference_steps: int, scheduler: str, strength: float = 0.0) -> None:
    """Refuse sampling options no stage can use (OptionError naming the option)."""
    if not 0 <= strength <= 1:
        raise OptionError(f"strength must be between 0 and 1, got {strength}")
    if not guidance_scale >= 0:
        raise OptionError(f"guidance_scale must be >= 0, got {guidance_scale}")
    if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
        raise OptionError(f"num_inference_steps must be an integer >= 1, got {num_inference_steps!r}")
    if scheduler not in SAMPLERS:
        raise OptionError(f"unknown scheduler {scheduler!r}; choose one of {', '.join(SAMPLERS)}")


def pil_to_tensor(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """PIL images -> (batch, 3, size, size) in [-1, 1]; square images are resized, others refused."""
    tensors = []
    for index, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise ImageInputError(f"image {index} is a {type(image).__name__}, not a PIL image or tensor")
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            raise ImageInputError(f"image {index} has mode {image.mode}; use an RGB, RGBA, grayscale or palette image")
        if image.width != image.height:
            raise ImageInputError(f"image {index} is {image.width}x{image.height}; the model needs a square image (crop it first)")
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        array = np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0
        tensors.append(torch.from_numpy(array).permute(2, 0, 1))
    return torch.stack(tensors)


def tensor_to_pil(images: torch.Tensor) -> list[Image.Image]:
    array = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(item) for item in array]


class GlyphCascadePipeline(DiffusionPipeline):
    """Base (64 or 128 px) -> super-resolution (256 px) text-rendering cascade."""

    model_cpu_offload_seq = "base_unet->sr_unet"

    def __init__(
        self,
        base_unet: GlyphUNet2DModel | None,
        base_scheduler: SchedulerMixin | None,
        sr_unet: GlyphUNet2DModel | None = None,
        sr_scheduler: SchedulerMixin | None = None,
    ) -> None:
        """Either stage may be absent (an SR-only pipeline samples during SR training), not both."""
        super().__init__()
        first = base_unet if base_unet is not None else sr_unet
        if first is None:
            raise ValueError("a pipeline needs a base model, a super-resolution model, or both")
        self.register_modules(base_unet=base_unet, base_scheduler=base_scheduler, sr_unet=sr_unet, sr_scheduler=sr_scheduler)
        self.tokenizer = GlyphTokenizer(max_tokens=first.config.max_tokens, max_lines=first.config.max_lines)
        self.current_stage = "base"

    @classmethod
    def from_checkpoints(
        cls, base_dir: str | Path, sr_dir: str | Path | None, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
    ) -> "GlyphCascadePipeline":
        """Load the models saved by `glyphbot train` (each folder: weights + scheduler_config.json)."""
        dtype = dtype or (torch.float16 if torch.device(device).type == "cuda" else torch.float32)
        base = GlyphUNet2DModel.from_pretrained(base_dir, torch_dtype=dtype)
        base_scheduler = DDPMScheduler.from_pretrained(base_dir)
        sr = sr_scheduler = None
        if sr_dir is not None:
            sr = GlyphUNet2DModel.from_pretrained(sr_dir, torch_dtype=dtype)
            sr_scheduler = DDPMScheduler.from_pretrained(sr_dir)
        return cls(base, base_scheduler, sr, sr_scheduler).to(device)

    # ------------------------------------------------------------------ inputs

    def _seeds(self, count: int, seed: int | Sequence[int] | None) -> list[int]:
        if seed is None:
            return [secrets.randbelow(MAX_SEED) for _ in range(count)]
        if isinstance(seed, int):
            if not 0 <= seed <= MAX_SEED - count:
                raise OptionError(f"seed must be between 0 and {MAX_SEED - count}, got {seed}")
            return [seed + index for index in range(count)]
        seeds = list(seed)
        if len(seeds) != count or any(not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds):
            raise OptionError(f"give {count} integer seeds between 0 and {MAX_SEED}, got {seeds!r}")
        return seeds

    def _conditioning(
        self, prompts: list[str], negative_prompts: list[str | None], style: StyleTokens | None = None
    ) -> tuple[TokenizedBatch, TokenizedBatch]:
        device = self._execution_device
        cond = self.tokenizer(prompts, style_slots=0 if style is None else style.slots).to(device)
        uncond = self.tokenizer([negative or None for negative in negative_prompts]).to(device)
        return cond, uncond

    def layouts(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        mode: str = "glyph",
        font: str | None = None,
        align: str | None = None,
        template: str | None = None,
    ) -> list[Layout | None]:
        """Each candidate's layout, drawn from its seed (see `generation.templates.candidate_layouts`).

        Raises LayoutError (a PromptError) for a transcript that cannot be laid out legibly, an
        unknown font or template, and OptionError for an unknown mode."""
        if mode not in LAYOUT_MODES:
            raise OptionError(f"layout must be one of {', '.join(LAYOUT_MODES)}, got {mode!r}")
        return candidate_layouts(prompts, seeds, mode, font, align, template)

    def check_inputs(
        self,
        prompts: list[str],
        negative_prompts: list[str | None] | None = None,
        image: Any = None,
        layout: str = "glyph",
        font: str | None = None,
        align: str | None = None,
        template: str | None = None,
    ) -> None:
        """Raise what generation would raise for these texts, layout options and init image
        (PromptError, LayoutError, OptionError, ImageInputError), without drawing anything:
        callers that queue work check first, so a bad request is never queued."""
        self._conditioning(prompts, _negatives(prompts, negative_prompts))
        self.layouts(prompts, [0] * len(prompts), layout, font, align, template)
        if image is not None:
            first = self.base_unet or self.sr_unet
            self._image_tensor(image, len(prompts), first.config.sample_size)

    def _image_tensor(self, image: Any, count: int, size: int) -> torch.Tensor:
        if isinstance(image, Image.Image):
            image = [image]
        if isinstance(image, (list, tuple)):
            tensor = pil_to_tensor(image, size)
        elif isinstance(image, torch.Tensor):
            tensor = image if image.ndim == 4 else image[None]
            if tensor.shape[1:] != (3, size, size):
                raise ImageInputError(f"image tensor has shape {tuple(tensor.shape)}; expected (batch, 3, {size}, {size}) in [-1, 1]")
        else:
            raise ImageInputError(f"image must be a PIL image, a list of them or a tensor, not {type(image).__name__}")
        if tensor.shape[0] == 1:
            tensor = tensor.expand(count, -1, -1, -1)
        if tensor.shape[0] != count:
            raise ImageInputError(f"got {tensor.shape[0]} images for {count} candidates; give one or one per candidate")
        return tensor.to(self._execution_device, self.base_unet.dtype)

    # ------------------------------------------------------------------ sampling

    def _model_output(
        self,
        unet: GlyphUNet2DModel,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        cond: TokenizedBatch,
        uncond: TokenizedBatch,
        guidance_scale: float,
        extra: dict[str, torch.Tensor],
        glyph: torch.Tensor | None = None,
        style_embeds: torch.Tensor | None = None,
        blend: TextBlend | None = None,
    ) -> torch.Tensor:
        """Guided prediction; runs only the branches that guidance actually needs.

        `glyph` is the conditional branch's map; the unconditional branch always gets a blank one.
        `style_embeds` and `blend` (a second text mixed into each candidate's, for tweening) condition
        the conditional branch only, so guidance pushes towards them."""
        if guidance_scale == 1:
            return unet(
                sample, timestep, cond.input_ids, cond.attention_mask, cond.line_ids, glyph=glyph,
                style_embeds=style_embeds, text_blend=blend, **extra,
            ).sample
        if guidance_scale == 0:
            return unet(sample, timestep, uncond.input_ids, uncond.attention_mask, uncond.line_ids, **extra).sample
        both = _stack_tokens(uncond, cond)
        doubled: dict[str, Any] = {name: torch.cat([value, value]) for name, value in extra.items()}
        if glyph is not None:
            doubled["glyph"] = torch.cat([torch.zeros_like(glyph), glyph])
        if blend is not None:
            # The unconditional rows blend with themselves at weight 0: they stay the blank prompt.
            stacked = _stack_tokens(uncond, TokenizedBatch(blend.input_ids, blend.attention_mask, blend.line_ids))
            doubled["text_blend"] = TextBlend(
                stacked.input_ids, stacked.attention_mask, stacked.line_ids, torch.cat([torch.zeros_like(blend.weight), blend.weight])
            )
        out = unet(
            torch.cat([sample, sample]), timestep, both.input_ids, both.attention_mask, both.line_ids,
            style_embeds=style_embeds, **doubled,
        ).sample
        out_uncond, out_cond = out.chunk(2)
        prediction_uncond, _ = split_learned_variance(out_uncond, sample.shape[1])
        prediction_cond, variance = split_learned_variance(out_cond, sample.shape[1])
        guided = prediction_uncond + guidance_scale * (prediction_cond - prediction_uncond)
        # Guidance moves the mean only; learned variances come from the conditional branch (as in GLIDE).
        return guided if variance is None else torch.cat([guided, variance], dim=1)

    def _denoise(
        self,
        unet: GlyphUNet2DModel,
        training_scheduler: SchedulerMixin,
        scheduler_name: str,
        cond: TokenizedBatch,
        uncond: TokenizedBatch,
        generators: list[torch.Generator],
        guidance_scale: float,
        num_inference_steps: int,
        init: torch.Tensor | None,
        strength: float,
        extra: dict[str, torch.Tensor],
        callback: StepCallback | None,
        layouts: Sequence[Layout | None],
        steering: _Steering,
    ) -> torch.Tensor:
        device, dtype = self._execution_device, unet.dtype
        glyph = self._glyph_tensor(unet, layouts)
        if unet.config.region_channels:
            # Both branches of guidance draw the same structure: the region map goes with the shared inputs.
            extra = {**extra, "region": self._region_tensor(unet, layouts)}
        size = unet.config.sample_size
        count = len(generators)
        scheduler = sampling_scheduler(scheduler_name, training_scheduler)
        scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = scheduler.timesteps
        noise = torch.stack(
            [torch.randn((3, size, size), generator=g, device=g.device, dtype=torch.float32) for g in generators]
        ).to(device, dtype)
        if init is None:
            sample = noise * scheduler.init_noise_sigma
        else:
            run_steps = min(int(round(num_inference_steps * strength)), num_inference_steps)
            if run_steps == 0:
                return init
            timesteps = timesteps[num_inference_steps - run_steps :]
            if hasattr(scheduler, "set_begin_index"):
                scheduler.set_begin_index(num_inference_steps - run_steps)
            sample = scheduler.add_noise(init, noise, timesteps[:1].repeat(count))
        for step, timestep in enumerate(self.progress_bar(timesteps)):
            model_input = scheduler.scale_model_input(sample, timestep)
            output = self._model_output(unet, model_input, timestep, cond, uncond, guidance_scale, extra, glyph, steering.style_embeds, steering.blend)
            if steering.clean_edits:
                alpha = training_scheduler.alphas_cumprod.to(device)[int(timestep)]
                output = apply_clean_edits(
                    steering.clean_edits, output, model_input, alpha, training_scheduler.config.prediction_type, step / len(timesteps)
                )
            if not isinstance(scheduler, DDPMScheduler):  # only the ancestral sampler reads learned variances
                output = split_learned_variance(output, sample.shape[1])[0]
            sample = scheduler.step(output, timestep, sample, generator=generators).prev_sample
            if callback is not None:
                callback(self, step, int(timestep), {"latents": sample, "stage": self.current_stage, "total_steps": len(timesteps)})
        return sample.clamp(-1, 1)

    def _glyph_tensor(self, unet: GlyphUNet2DModel, layouts: Sequence[Layout | None]) -> torch.Tensor | None:
        """The conditional branch's glyph maps at the model's size; None when no candidate has a layout.

        A layout is any generation.layout.Layout: a card, a template, a tween's blend, a photo's box."""
        if not unet.reads_glyphs or all(layout is None for layout in layouts):
            return None
        glyph = torch.from_numpy(stacked_maps(layouts, unet.config.sample_size))[:, None].expand(-1, unet.config.glyph_channels, -1, -1)
        return glyph.to(self._execution_device, unet.dtype)

    def layout_inputs(self, unet: GlyphUNet2DModel, layouts: Sequence[Layout | None]) -> dict[str, torch.Tensor]:
        """The U-Net inputs the candidates' layouts give (keyword to tensor): their glyph maps, and their
        region maps for a model that reads them. Training code conditions on layouts the way sampling does."""
        inputs = {}
        glyph = self._glyph_tensor(unet, layouts)
        if glyph is not None:
            inputs["glyph"] = glyph
        if unet.config.region_channels:
            inputs["region"] = self._region_tensor(unet, layouts)
        return inputs

    def _region_tensor(self, unet: GlyphUNet2DModel, layouts: Sequence[Layout | None]) -> torch.Tensor:
        """Every candidate's region map at the model's size (blank for a plain card or no layout)."""
        maps = stacked_maps(layouts, unet.config.sample_size, "region")
        region = torch.from_numpy(maps)[:, None].expand(-1, unet.config.region_channels, -1, -1)
        return region.to(self._execution_device, unet.dtype)

    def _candidate_layouts(self, prompts: list[str], seeds: list[int], layouts: Sequence[Layout | None] | None) -> list[Layout | None]:
        if layouts is None:
            return self.layouts(prompts, seeds)
        layouts = list(layouts)
        if len(layouts) != len(prompts):
            raise OptionError(f"got {len(layouts)} layouts for {len(prompts)} candidates")
        return layouts

    @staticmethod
    def _generators(seeds: list[int], salt: int) -> list[torch.Generator]:
        """One CPU generator per candidate: identical pixels for a seed on any device or batch."""
        return [torch.Generator("cpu").manual_seed((seed + salt) % (MAX_SEED + 1)) for seed in seeds]

    @torch.no_grad()
    def generate_base(
        self,
        prompts: list[str],
        *,
        negative_prompts: list[str | None] | None = None,
        seeds: list[int] | None = None,
        guidance_scale: float = 2.0,
        num_inference_steps: int = 50,
        scheduler: str = "dpmsolver",
        image: Any = None,
        strength: float = 0.75,
        callback_on_step_end: StepCallback | None = None,
        layouts: Sequence[Layout | None] | None = None,
        style: StyleTokens | None = None,
        clean_edits: Sequence[CleanEdit] = (),
        blend_prompts: Sequence[str] | None = None,
        blend_weights: Sequence[float] | None = None,
    ) -> torch.Tensor:
        """Base-stage candidates, (batch, 3, S, S) in [-1, 1]: one per prompt, seeded per candidate.

        Every option is a keyword: a stage has too many to pass by position safely.
        `layouts` (one per prompt; see `layouts()`) default to ones drawn from the seeds. `style`: a
        learned style (generation.styles; it conditions the base stage, whose colours the SR keeps).
        `clean_edits` steer every step (generation.guidance). `blend_prompts` with `blend_weights`
        mix a second text into each candidate's (tweening)."""
        if self.base_unet is None:
            raise RuntimeError("this pipeline has no base model")
        check_options(guidance_scale, num_inference_steps, scheduler, strength)
        negative_prompts = _negatives(prompts, negative_prompts)
        seeds = self._seeds(len(prompts), seeds)
        cond, uncond = self._conditioning(prompts, negative_prompts, style)
        layouts = self._candidate_layouts(prompts, seeds, layouts)
        init = None if image is None else self._image_tensor(image, len(prompts), self.base_unet.config.sample_size)
        style_embeds = None if style is None or style.vectors is None else style.vectors[None].to(self._execution_device, self.base_unet.dtype)
        steering = _Steering(style_embeds, self._blend(prompts, blend_prompts, blend_weights), tuple(clean_edits))
        self.current_stage = "base"
        return self._denoise(
            self.base_unet, self.base_scheduler, scheduler, cond, uncond, self._generators(seeds, 0),
            guidance_scale, num_inference_steps, init, strength, {}, callback_on_step_end, layouts, steering,
        )

    def _blend(self, prompts: Sequence[str], blend_prompts: Sequence[str] | None, weights: Sequence[float] | None) -> TextBlend | None:
        if blend_prompts is None:
            return None
        if weights is None or len(blend_prompts) != len(prompts) or len(weights) != len(prompts):
            raise OptionError(f"give one blend prompt and one weight per prompt ({len(prompts)})")
        if any(not 0 <= weight <= 1 for weight in weights):
            raise OptionError(f"blend weights must be between 0 and 1, got {list(weights)}")
        tokens = self.tokenizer(list(blend_prompts)).to(self._execution_device)
        return TextBlend(tokens.input_ids, tokens.attention_mask, tokens.line_ids, torch.tensor(list(weights), device=self._execution_device))

    @contextlib.contextmanager
    def styled(self, style: StyleTokens | None, strength: float) -> Iterator[None]:
        """A block in which both stages draw with `style`'s LoRA adapters at `strength` (a vectors style
        or none changes nothing); both models are exactly as before after it, however the block ends."""
        with contextlib.ExitStack() as stack:
            for unet in (self.base_unet, self.sr_unet):
                if style is not None and unet is not None:
                    stack.enter_context(style.applied(unet, strength))
            yield

    def colour_guidance(
        self, reference: Image.Image | Palette, layouts: Sequence[Layout | None], size: int, strength: float
    ) -> ColourGuidance:
        """Steering towards the colours (letters and background apart) of a reference picture or a
        palette, for candidates drawn with `layouts` at `size` px; see generation.guidance."""
        if not 0 < strength <= 1:
            raise OptionError(f"style_strength must be above 0 and at most 1, got {strength}")
        palette = reference if isinstance(reference, Palette) else split_two_colours(pil_to_tensor([centre_square(reference)], size)[0]).palette
        return ColourGuidance(palette, torch.from_numpy(stacked_maps(layouts, size)), strength)

    @torch.no_grad()
    def upscale(
        self,
        prompts: list[str],
        low_res: torch.Tensor,
        *,
        negative_prompts: list[str | None] | None = None,
        seeds: list[int] | None = None,
        guidance_scale: float = 1.0,
        num_inference_steps: int = 25,
        scheduler: str = "dpmsolver",
        noise_level: int = 50,
        callback_on_step_end: StepCallback | None = None,
        layouts: Sequence[Layout | None] | None = None,
        clean_edits: Sequence[CleanEdit] = (),
        blend_prompts: Sequence[str] | None = None,
        blend_weights: Sequence[float] | None = None,
        grain: FilmGrain | None = None,
        grain_strength: float = 1.0,
    ) -> torch.Tensor:
        """Super-resolve base images (batch, 3, s, s) in [-1, 1] to the SR model's size.

        Pass the `layouts` the base images were drawn with (the SR stage draws them at its own size);
        by default they are drawn from `seeds`. A style's `grain` is added to the result at
        `grain_strength`, each candidate's from its seed (generation.film_grain)."""
        if self.sr_unet is None:
            raise RuntimeError("this pipeline has no super-resolution model")
        check_options(guidance_scale, num_inference_steps, scheduler)
        max_level = self.sr_unet.config.max_noise_level
        if not 0 <= noise_level <= max_level:
            raise OptionError(f"noise_level must be between 0 and {max_level} (the most the SR model was trained on), got {noise_level}")
        if low_res.ndim != 4 or low_res.shape[0] != len(prompts) or low_res.shape[1] != 3:
            raise ImageInputError(f"low_res must be (batch={len(prompts)}, 3, H, W), got {tuple(low_res.shape)}")
        negative_prompts = _negatives(prompts, negative_prompts)
        seeds = self._seeds(len(prompts), seeds)
        cond, uncond = self._conditioning(prompts, negative_prompts)
        layouts = self._candidate_layouts(prompts, seeds, layouts)
        device, dtype = self._execution_device, self.sr_unet.dtype
        generators = self._generators(seeds, 1)
        levels = torch.full((len(prompts),), noise_level, device=device, dtype=torch.long)
        aug_noise = torch.stack([torch.randn(low_res.shape[1:], generator=g) for g in self._generators(seeds, 2)]).to(device, dtype)
        augmented = self.sr_scheduler.add_noise(low_res.to(device, dtype), aug_noise, levels)
        steering = _Steering(None, self._blend(prompts, blend_prompts, blend_weights), tuple(clean_edits))
        self.current_stage = "sr"
        drawn = self._denoise(
            self.sr_unet, self.sr_scheduler, scheduler, cond, uncond, generators, guidance_scale,
            num_inference_steps, None, 1.0, {"low_res": augmented, "noise_level": levels}, callback_on_step_end, layouts,
            steering,
        )
        if grain is None:
            return drawn
        glyph = self._glyph_tensor(self.sr_unet, layouts)  # the letters the grain keeps off
        return add_grain(drawn, grain, seeds, grain_strength, None if glyph is None else glyph[:, :1])

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        guidance_scale: float = 2.0,
        sr_guidance_scale: float = 1.0,
        num_inference_steps: int = 50,
        sr_num_inference_steps: int = 25,
        scheduler: str = "dpmsolver",
        seed: int | Sequence[int] | None = None,
        generator: torch.Generator | None = None,
        image: Any = None,
        strength: float = 0.75,
        sr_noise_level: int = 50,
        output_type: str = "pil",
        callback_on_step_end: StepCallback | None = None,
        layout: str = "glyph",
        font: str | None = None,
        align: str | None = None,
        style: StyleTokens | None = None,
        style_image: Image.Image | None = None,
        style_strength: float = 0.5,
        template: str | None = None,
    ) -> GlyphPipelineOutput:
        """Run the whole cascade. Candidates are ordered prompt-major; `seeds[i]` reproduces image i (its
        super-resolution uses `sr_seeds`, as the renderer's candidates do).

        `layout` "glyph" (default) draws each candidate's glyph map from its seed, "none" draws without;
        `font`, `align` and `template` pin the layout's font (a name from `glyphbot fonts`), alignment
        and template (generation.types.TEMPLATES; by default rules read the transcript). `style`
        is a learned style (generation.styles); `style_image` a reference picture. Both stages steer
        towards the reference's colours, or else the style's palette, by `style_strength` in (0, 1]."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise PromptError("the batch of prompts is empty")
        if not isinstance(num_images_per_prompt, int) or num_images_per_prompt < 1:
            raise OptionError(f"num_images_per_prompt must be an integer >= 1, got {num_images_per_prompt!r}")
        if output_type not in ("pil", "pt", "np"):
            raise OptionError(f"output_type must be 'pil', 'pt' or 'np', got {output_type!r}")
        negatives = _negatives(prompts, [negative_prompt] * len(prompts) if isinstance(negative_prompt, str) or negative_prompt is None else negative_prompt)
        expanded = [p for p in prompts for _ in range(num_images_per_prompt)]
        expanded_negatives = [n for n in negatives for _ in range(num_images_per_prompt)]
        if seed is None and generator is not None:
            seed = int(torch.randint(0, MAX_SEED - len(expanded), (1,), generator=generator))
        seeds = self._seeds(len(expanded), seed)
        if image is not None and isinstance(image, (list, tuple)) and len(image) == len(prompts) and num_images_per_prompt > 1:
            image = [img for img in image for _ in range(num_images_per_prompt)]
        self._conditioning(expanded, expanded_negatives, style)  # the tokenizer's errors (length, control characters) first
        layouts = self.layouts(expanded, seeds, layout, font, align, template)

        def steer(unet: GlyphUNet2DModel) -> tuple[CleanEdit, ...]:
            look = style_image if style_image is not None else None if style is None else style.palette
            if look is None:
                return ()
            return (self.colour_guidance(look, layouts, unet.config.sample_size, style_strength),)

        with self.styled(style, style_strength):  # both stages: the SR stage's adapter draws the texture
            base = self.generate_base(
                expanded, negative_prompts=expanded_negatives, seeds=seeds, guidance_scale=guidance_scale,
                num_inference_steps=num_inference_steps, scheduler=scheduler, image=image, strength=strength,
                callback_on_step_end=callback_on_step_end, layouts=layouts, style=style, clean_edits=steer(self.base_unet),
            )
            final = base
            if self.sr_unet is not None:
                final = self.upscale(
                    expanded, base, negative_prompts=expanded_negatives, seeds=sr_seeds(seeds), guidance_scale=sr_guidance_scale,
                    num_inference_steps=sr_num_inference_steps, scheduler=scheduler, noise_level=sr_noise_level,
                    callback_on_step_end=callback_on_step_end, layouts=layouts, clean_edits=steer(self.sr_unet),
                    grain=None if style is None else style.grain, grain_strength=style_strength,
                )
        return GlyphPipelineOutput(
            images=_convert(final, output_type), base_images=_convert(base, output_type), seeds=seeds, layouts=layouts
        )


def sr_seeds(seeds: Sequence[int]) -> list[int]:
    """The super-resolution seeds of candidates drawn from `seeds`: the one seed scheme of the cascade
    (SR_SEED_OFFSET), so the renderer, tweens, the benchmarks and `__call__` draw the same pixels."""
    return [seed + SR_SEED_OFFSET for seed in seeds]


def _negatives(prompts: list[str], negative_prompts: Sequence[str | None] | None) -> list[str | None]:
    if negative_prompts is None:
        return [None] * len(prompts)
    negatives = list(negative_prompts)
    if len(negatives) != len(prompts):
        raise PromptError(f"got {len(negatives)} negative prompts for {len(prompts)} prompts")
    return negatives


def _stack_tokens(first: TokenizedBatch, second: TokenizedBatch) -> TokenizedBatch:
    """Concatenate two tokenized batches along the batch, padding the shorter one."""
    length = max(first.input_ids.shape[1], second.input_ids.shape[1])

    def pad(tensor: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(tensor, (0, length - tensor.shape[1]))

    return TokenizedBatch(
        torch.cat([pad(first.input_ids), pad(second.input_ids)]),
        torch.cat([pad(first.attention_mask), pad(second.attention_mask)]),
        torch.cat([pad(first.line_ids), pad(second.line_ids)]),
    )


def _convert(images: torch.Tensor, output_type: str) -> Any:
    if output_type == "pt":
        return images
    if output_type == "np":
        return ((images.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()
    return tensor_to_pil(images)
