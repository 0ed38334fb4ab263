"""LoRA styles: low-rank adapters on the base U-Net, learned from a user's example pictures
(DreamBooth-style fine-tuning with every original weight frozen; seeds 001 and 004).

Why adapters: textual-inversion vectors (generation.styles) only reach the model through its text
encoder, and the shipped CPU model takes its colours and texture from the noise, not from the text,
so vectors alone barely change a picture. Adapters change the U-Net's own attention projections and
convolutions, where colour and texture are drawn.

Against forgetting, learning mixes in DreamBooth's prior-preservation loss: before learning, the
frozen model draws pictures of ordinary transcripts (`draw_prior`); every step then also asks the
adapted model to reproduce those, so it keeps writing any text, not only the examples' words. Unlike
DreamBooth, a style has no identifier word that the prior's prompts leave out: the adapter is simply
in the model or not. Asked to reproduce the prior pictures whole, it would be pulled back to the
unstyled colours it exists to change (measured: the colour distance to the examples moved only 30 %
of the way to palette steering, 52.0 of 67.8 -> 14.9). So the prior term compares only the letters'
shapes: the fine detail (picture minus its local mean) on the letters' pixels and one around them.

An adapter is applied for one render at a scale (the request's `style_strength`) and removed
afterwards (`applied_adapter`): the adapter layers are taken out again and the original modules put
back, so nothing of one job's style can reach the next job of a long-running worker, even when the
render fails half-way. `peft` does the low-rank layers, as it does for diffusers.

The SR stage gets adapters too, because texture (a board's grain, paper fibres) is 256 px detail that
only the SR stage draws: base adapters alone moved the colours but left the texture where it was
(measured, README "Styles"). They go on the decoder's two finest levels only, where fine detail is
drawn: there a learning step costs about a tenth of one with adapters throughout the SR U-Net (the
gradient stops at the first adapted layer), so learning still fits a few minutes on a CPU. Its prior
needs no sampling: given a picture's low-res version, the SR model's own output is that picture, so
the data engine's pictures of ordinary transcripts (`engine_prior`) stand in for the frozen model's.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from peft.tuners.tuners_utils import BaseTunerLayer

from generation.data.text_sampler import TextSampler, TextSamplerConfig
from generation.unet import GlyphUNet2DModel

ADAPTER_NAME = "glyphbot_style"
# The U-Net's attention projections and its residual blocks' convolutions; never the text encoder
# (the words must stay the words) and never the first and last convolutions (the glyph map's inputs).
TARGET_MODULES = r"^(?!text_encoder\.).*\.(to_q|to_k|to_v|to_out\.0|conv1|conv2)$"
SR_FINEST_LEVELS = 2  # the SR U-Net's decoder levels that get adapters, counted from the finest
DEFAULT_RANK = 4
DEFAULT_LORA_STEPS = 300
DEFAULT_SR_LORA_STEPS = 100
DEFAULT_PRIOR_COUNT = 8
DEFAULT_PRIOR_STEPS = 20  # sampler steps for each prior picture, the product's base-stage default
DEFAULT_PRIOR_WEIGHT = 1.0


class AdapterMismatchError(ValueError):
    """Adapter weights that do not fit this model (learned for another architecture)."""


@dataclass(frozen=True)
class PriorSet:
    """The frozen model's own pictures of ordinary transcripts, and what conditioned them, for the
    prior-preservation loss: pictures (n, 3, S, S) in [-1, 1], the transcripts, and the model
    inputs the glyph layout gave them (glyph and, for a model that reads one, region maps)."""

    pictures: torch.Tensor
    transcripts: tuple[str, ...]
    maps: dict[str, torch.Tensor]


@dataclass(frozen=True)
class TrainingBatch:
    """Pictures to denoise with what conditions them: tokenized transcripts and the U-Net's map inputs;
    for an SR model, the side of the low-res pictures it upscales (the base model's)."""

    pictures: torch.Tensor
    tokens: object  # generation.tokenizer.TokenizedBatch
    maps: dict[str, torch.Tensor]
    low_res_size: int | None = None


@dataclass(frozen=True)
class LearnedAdapter:
    """What learning gives: the adapter's weights (fp16, on the CPU), its rank and its last average loss."""

    weights: dict[str, torch.Tensor]
    rank: int
    loss: float


def target_modules(unet: GlyphUNet2DModel) -> str:
    """The layers a style adapts in `unet` (a pattern of module names): the base model's attention
    projections and residual convolutions; an SR model's residual convolutions of its finest decoder levels."""
    if not unet.is_super_resolution:
        return TARGET_MODULES
    levels = len(unet.config.block_out_channels)
    finest = "|".join(str(index) for index in range(max(0, levels - SR_FINEST_LEVELS), levels))
    return rf"^up_levels\.({finest})\..*\.(conv1|conv2)$"


def lora_config(rank: int, targets: str) -> LoraConfig:
    """An adapter of rank `rank` on the modules `targets` names, alpha = rank (scale 1 at strength 1)."""
    return LoraConfig(r=rank, lora_alpha=rank, target_modules=targets, init_lora_weights=True, lora_dropout=0.0)


def has_adapter(unet: torch.nn.Module) -> bool:
    """Whether any adapter layer is in `unet` (a worker checks that none outlived its job)."""
    return any(isinstance(module, BaseTunerLayer) for module in unet.modules())


def expected_shapes(unet: GlyphUNet2DModel, rank: int) -> dict[str, tuple[int, ...]]:
    """The adapter weights' names and shapes for `unet` at `rank`, as peft names them; a style file's
    adapter must have exactly these."""
    pattern = re.compile(target_modules(unet))
    shapes: dict[str, tuple[int, ...]] = {}
    for name, module in unet.named_modules():
        if not pattern.match(name):
            continue
        if isinstance(module, torch.nn.Linear):
            shapes[f"{name}.lora_A.weight"] = (rank, module.in_features)
            shapes[f"{name}.lora_B.weight"] = (module.out_features, rank)
        elif isinstance(module, torch.nn.Conv2d):
            shapes[f"{name}.lora_A.weight"] = (rank, module.in_channels, *module.kernel_size)
            shapes[f"{name}.lora_B.weight"] = (module.out_channels, rank, 1, 1)
    return shapes


def check_adapter(unet: GlyphUNet2DModel, weights: dict[str, torch.Tensor], rank: int) -> None:
    """Raise AdapterMismatchError naming the first weight that does not fit `unet`."""
    if has_adapter(unet):
        raise AdapterMismatchError("the base model carries an adapter already; styles are applied one at a time")
    expected = expected_shapes(unet, rank)
    if set(weights) != set(expected):
        missing = sorted(set(expected) - set(weights))[:1] or sorted(set(weights) - set(expected))[:1]
        raise AdapterMismatchError(f"the adapter does not fit this base model (first mismatch: {missing[0]})")
    for key, shape in expected.items():
        if tuple(weights[key].shape) != shape:
            raise AdapterMismatchError(f"the adapter's {key} is {tuple(weights[key].shape)}, this base model needs {shape}")


def _inject(unet: GlyphUNet2DModel, rank: int) -> dict[str, bool]:
    """Put fresh adapter layers into `unet`; returns every original parameter's requires_grad, which
    peft turns off and `_remove` puts back."""
    flags = {name: parameter.requires_grad for name, parameter in unet.named_parameters()}
    inject_adapter_in_model(lora_config(rank, target_modules(unet)), unet, adapter_name=ADAPTER_NAME)
    return flags


def _remove(unet: GlyphUNet2DModel, flags: dict[str, bool]) -> None:
    """Take every adapter layer out of `unet`, putting the original module back in its place."""
    for name, module in list(unet.named_modules()):
        if isinstance(module, BaseTunerLayer):
            parent_name, _, child = name.rpartition(".")
            parent = unet.get_submodule(parent_name) if parent_name else unet
            setattr(parent, child, module.get_base_layer())
    for name, parameter in unet.named_parameters():
        parameter.requires_grad_(flags.get(name, parameter.requires_grad))
    vars(unet).pop("peft_config", None)  # peft's record of the adapters it injected


@contextlib.contextmanager
def applied_adapter(unet: GlyphUNet2DModel, weights: dict[str, torch.Tensor], rank: int, scale: float) -> Iterator[None]:
    """`unet` draws with the adapter `weights` at `scale` inside the block, and exactly as before after it,
    however the block ends."""
    check_adapter(unet, weights, rank)
    flags = _inject(unet, rank)
    try:
        parameter = next(unet.parameters())
        keyed = {key: value.to(parameter.device, parameter.dtype) for key, value in weights.items()}
        result = set_peft_model_state_dict(unet, keyed, adapter_name=ADAPTER_NAME)
        if result.unexpected_keys:
            raise AdapterMismatchError(f"the adapter has weights this base model has no place for: {result.unexpected_keys[:1]}")
        for module in unet.modules():
            if isinstance(module, LoraLayer):
                module.set_scale(ADAPTER_NAME, scale)
        yield
    finally:
        _remove(unet, flags)


def ordinary_transcripts(count: int, seed: int) -> list[str]:
    """Transcripts like the training data's (random words, names and numbers on 1 to 3 lines)."""
    sampler = TextSampler(TextSamplerConfig(max_line_chars=24))
    rng = random.Random(seed)
    return [sampler.sample(rng) for _ in range(count)]


def draw_prior(
    pipeline,  # noqa: ANN001  GlyphCascadePipeline
    count: int = DEFAULT_PRIOR_COUNT,
    seed: int = 0,
    steps: int = DEFAULT_PRIOR_STEPS,
    progress: Callable[[int], None] | None = None,
) -> PriorSet:
    """The frozen base model's pictures of `count` ordinary transcripts (one batch, `steps` sampler
    steps; `progress(step)` after each)."""
    transcripts = ordinary_transcripts(count, seed)
    seeds = [seed + index for index in range(count)]
    layouts = pipeline.layouts(transcripts, seeds)
    callback = None if progress is None else (lambda _pipe, step, _timestep, _values: progress(step + 1))
    with torch.no_grad():
        pictures = pipeline.generate_base(
            transcripts, negative_prompts=[None] * count, seeds=seeds, guidance_scale=2.0, num_inference_steps=steps,
            scheduler="dpmsolver", layouts=layouts, callback_on_step_end=callback,
        )
    return PriorSet(pictures.detach(), tuple(transcripts), pipeline.layout_inputs(pipeline.base_unet, layouts))


def engine_prior(unet: GlyphUNet2DModel, count: int = DEFAULT_PRIOR_COUNT, seed: int = 0, template_share: float = 0.4) -> PriorSet:
    """The SR stage's prior: the data engine's pictures of `count` ordinary transcripts (cards and, for
    `template_share` of them, templates, as in training) at `unet`'s size, with their maps."""
    from generation.data.datasets import SyntheticTextDataset  # the fonts and scenes, only when an SR style is learned

    engine = SyntheticTextDataset(
        unet.config.sample_size, TextSamplerConfig(max_line_chars=24), seed=seed, template_share=template_share,
        max_transcript_bytes=unet.config.max_tokens - 1,  # what the model's tokenizer takes, with its end token
    )
    drawn = list(itertools.islice(iter(engine), count))
    maps = {"glyph": torch.stack([example.glyph for example in drawn]).expand(-1, unet.config.glyph_channels, -1, -1)}
    if unet.config.region_channels:
        maps["region"] = torch.stack([example.region for example in drawn]).expand(-1, unet.config.region_channels, -1, -1)
    return PriorSet(torch.stack([example.pixels for example in drawn]), tuple(example.text for example in drawn), maps)


def learn_adapter(
    unet: GlyphUNet2DModel,
    scheduler,  # noqa: ANN001  the base's DDPMScheduler (training noise schedule)
    tokenizer,  # noqa: ANN001  generation.tokenizer.GlyphTokenizer
    pictures: torch.Tensor,
    maps: torch.Tensor,
    transcripts: Sequence[str],
    prior: PriorSet | None,
    steps: int = DEFAULT_LORA_STEPS,
    rank: int = DEFAULT_RANK,
    learning_rate: float = 1e-3,
    batch_size: int = 4,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
    low_res_size: int | None = None,
) -> LearnedAdapter:
    """Train an adapter on the model's own objective: denoise the examples (`pictures`, (n, 3, S, S)
    in [-1, 1], given their `transcripts` and estimated glyph `maps`; an SR model also their
    `low_res_size` versions) at random noise levels; with a `prior`, add `prior_weight` times the loss
    on the letters' shapes of the prior's pictures.
    Only the adapter learns; the model is exactly as before afterwards. `progress(step, loss)` after every step."""
    if unet.is_super_resolution and not low_res_size:
        raise ValueError("an SR model's adapter needs low_res_size (the base model's side)")
    device = unet.device
    generator = torch.Generator("cpu").manual_seed(seed)
    examples = TrainingBatch(pictures.to(device), tokenizer(list(transcripts)).to(device), example_maps(unet, maps.to(device)), low_res_size)
    priors = None if prior is None else TrainingBatch(
        prior.pictures.to(device), tokenizer(list(prior.transcripts)).to(device), {k: v.to(device) for k, v in prior.maps.items()}, low_res_size
    )
    unet.eval()
    with torch.random.fork_rng(devices=[]):  # the adapters' random start, without touching the process's generator
        torch.manual_seed(seed)
        flags = _inject(unet, rank)
    try:
        trainable = [parameter for parameter in unet.parameters() if parameter.requires_grad]
        optimiser = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)

        def loss() -> torch.Tensor:
            value = denoising_loss(unet, scheduler, examples, batch_size, generator)
            if priors is not None and prior_weight > 0:
                value = value + prior_weight * denoising_loss(unet, scheduler, priors, batch_size, generator, letter_shapes_only=True)
            return value

        average = optimise(optimiser, steps, loss, progress)
        weights = {key: value.detach().to("cpu", torch.float16).contiguous() for key, value in get_peft_model_state_dict(unet, adapter_name=ADAPTER_NAME).items()}
    finally:
        _remove(unet, flags)
    return LearnedAdapter(weights, rank, average)


def optimise(
    optimiser: torch.optim.Optimizer, steps: int, loss: Callable[[], torch.Tensor], progress: Callable[[int, float], None] | None
) -> float:
    """`steps` optimiser steps on a fresh `loss()` each; returns the loss's running average (the last
    steps' level, not one noisy batch), which `progress(step, average)` also gets after every step."""
    average = float("nan")
    for step in range(steps):
        value = loss()
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
        average = value.item() if step == 0 else 0.95 * average + 0.05 * value.item()
        if progress is not None:
            progress(step + 1, average)
    return average


def example_maps(unet: GlyphUNet2DModel, glyph: torch.Tensor) -> dict[str, torch.Tensor]:
    """The model inputs of the examples: their estimated glyph maps and, for a model that reads
    template regions, a blank region map (an example is taken as a plain card)."""
    maps = {"glyph": glyph.expand(-1, unet.config.glyph_channels, -1, -1)}
    if unet.config.region_channels:
        maps["region"] = torch.zeros(glyph.shape[0], unet.config.region_channels, *glyph.shape[2:], device=glyph.device)
    return maps


def denoising_loss(
    unet: GlyphUNet2DModel, scheduler, batch: TrainingBatch, batch_size: int, generator: torch.Generator,  # noqa: ANN001
    letter_shapes_only: bool = False, **extra: torch.Tensor,
) -> torch.Tensor:
    """The model's training loss on up to `batch_size` random pictures of `batch` at random noise
    levels; `extra` goes to the U-Net as it is (a style's vectors). `letter_shapes_only` compares only
    the fine detail on the letters (see the module's docstring), for a batch with glyph maps. An SR
    model upscales each picture's area-downsampled version, noised at a random augmentation level, as in training."""
    device = batch.pictures.device
    chosen = torch.randperm(batch.pictures.shape[0], generator=generator)[:batch_size].to(device)
    clean = batch.pictures[chosen]
    noise = torch.randn(clean.shape, generator=generator).to(device)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (len(chosen),), generator=generator).to(device)
    noisy = scheduler.add_noise(clean, noise, timesteps)
    if unet.is_super_resolution:
        low = F.interpolate(clean, size=(batch.low_res_size,) * 2, mode="area")
        levels = torch.randint(0, unet.config.max_noise_level + 1, (len(chosen),), generator=generator).to(device)
        extra = {**extra, "low_res": scheduler.add_noise(low, torch.randn(low.shape, generator=generator).to(device), levels), "noise_level": levels}
    tokens = batch.tokens
    output = unet(
        noisy, timesteps, tokens.input_ids[chosen], tokens.attention_mask[chosen], tokens.line_ids[chosen],
        **{key: value[chosen] for key, value in batch.maps.items()}, **extra,
    ).sample[:, :3]
    prediction = scheduler.config.prediction_type
    target = clean if prediction == "sample" else noise if prediction == "epsilon" else scheduler.get_velocity(clean, noise, timesteps)
    if letter_shapes_only and "glyph" in batch.maps:
        return _letter_detail_error(output.float(), target.float(), batch.maps["glyph"][chosen][:, :1].float())
    return F.mse_loss(output.float(), target.float())


def _letter_detail_error(output: torch.Tensor, target: torch.Tensor, glyph: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the pictures' fine detail (each minus its 5x5 local mean: strokes and
    edges, not colours) on the letters' pixels and one pixel around them."""
    mask = F.max_pool2d(glyph, 3, stride=1, padding=1)

    def detail(pictures: torch.Tensor) -> torch.Tensor:
        return pictures - F.avg_pool2d(pictures, 5, stride=1, padding=2, count_include_pad=False)

    error = (detail(output) - detail(target)).pow(2) * mask
    return error.sum() / (mask.sum() * output.shape[1]).clamp(min=1.0)
