"""Training loop for the base and super-resolution models (`glyphbot train base|sr`).

One loop serves both stages: a super-resolution step derives its low-resolution input from the
high-resolution batch (downsampled, then noise-augmented with a random level the model is told).
Both stages read the glyph map of each picture's layout; conditioning dropout blanks the text and
the map together (the unconditional branch of guidance) or the map alone (the original autoresponder model's glyph-free mode).
Accelerate handles device placement and bf16/fp16 on a GPU; the same code runs on a CPU with a
tiny model config, which is how the tests exercise it.

Each run can continue from shipped weights (`init_from`), warm-start an SR model from a base model
(`warm_start_base`), and resume an interrupted run from its own latest checkpoint in `output_dir`.
The product of a run is `output_dir/model`: the EMA weights in fp16 shards of at most 15 MB, the
training scheduler's config and a `training.json` describing the run. It is rewritten at every
checkpoint, so a run stopped at any moment leaves weights to measure and ship. A run continued from
shipped weights counts samples and wall time on from theirs, and its data stream starts where the
previous stream stopped (no replay of the first samples).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers.training_utils import EMAModel, compute_snr
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from generation.data.datasets import FolderTextDataset, SyntheticTextDataset, collate_examples, image_to_tensor
from generation.data.grid import tile_grid
from generation.data.render import render_template_image, render_text_image
from generation.data.text_sampler import TextSamplerConfig
from generation.layout import find_fonts
from generation.lr_schedule import LR_SCHEDULES, RunProgress, wall_clock_schedule
from generation.pipeline import GlyphCascadePipeline, tensor_to_pil
from generation.request_options import option
from generation.schedulers import PREDICTION_TYPES, training_scheduler
from generation.tokenizer import GlyphTokenizer
from generation.unet import GlyphUNet2DModel
from generation.variance import split_learned_variance, variational_bound_bits

SAMPLE_PROMPTS = ("the\nwhat string\ncommit", "HELLO\nWORLD", "glyphbot 2026", "Open 9-5")
# With templates on, the grid also shows a tweet, a meme and a sign (template, transcript).
TEMPLATE_SAMPLE_PROMPTS = (
    ("tweet", "glyph bot\n@glyphbot\nlong transcripts wrap to the card now, and the model writes them word for word\n9:41 PM"),
    ("meme", "WHEN THE MODEL\nFINALLY WRITES"),
    ("sign", "FRESH BREAD"),
)
KEEP_CHECKPOINTS = 2


def glyph_pixel_weight(glyphs: torch.Tensor, extra_weight: float) -> torch.Tensor:
    """Per-pixel loss weights: 1 + `extra_weight` on the letters and a pixel around them (their
    edges and outlines), scaled so that each picture's weights average 1.

    The scaling keeps the loss and gradient sizes of unweighted training, so the learning rate
    and a run continued from unweighted weights stay sound; only the share spent on letters grows.
    Weights come from the glyph map before conditioning dropout: a picture trained without its map
    still has letters, and they still matter most."""
    if not extra_weight:
        return torch.ones_like(glyphs[:, :1])
    letters = F.max_pool2d((glyphs[:, :1] > 0.25).float(), kernel_size=3, stride=1, padding=1)
    weight = 1 + extra_weight * letters
    return weight / weight.mean(dim=(1, 2, 3), keepdim=True)


@dataclass
class TrainingConfig:
    """Everything a run depends on; hashed into training.json so runs can be compared."""

    stage: str
    model: dict[str, Any]
    output_dir: str
    steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_steps: int = 200
    ema_decay: float = 0.9999
    conditioning_dropout: float = 0.1
    glyph_dropout: float = 0.1
    prediction_type: str = "sample"
    learned_variance: bool = False
    min_snr_gamma: float | None = None
    mixed_precision: str = "no"
    grad_clip: float = 1.0
    num_workers: int = 0
    save_every: int = 500
    max_wall_minutes: float | None = None
    sample_every: int = 500
    log_every: int = 10
    seed: int = 0
    text: TextSamplerConfig = field(default_factory=TextSamplerConfig)
    folder_dataset: str | None = None
    init_from: str | None = None
    warm_start_base: str | None = None
    low_res_size: int | None = None
    threads: int | None = None
    # Share of the synthetic pictures drawn from the templates other than the plain card (tweets,
    # memes, signs, pages... on scenes; generation.data.datasets.TEMPLATE_WEIGHTS), the rest cards.
    template_share: float = 0.0
    region_dropout: float = 0.1
    # Extra loss weight on the pixels in and around the letters (UniGlyph's glyph-weighted loss): the
    # letters are a few percent of a picture, so an unweighted loss spends the model on backgrounds.
    glyph_loss_weight: float = 0.0
    # "constant" after warm-up, or "cosine" down to a tenth over the run's budget (generation.lr_schedule).
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.stage not in ("base", "sr"):
            raise ValueError(f"stage must be 'base' or 'sr', got {self.stage!r}")
        if self.mixed_precision == "bf16" and not torch.cuda.is_available() and not cpu_has_bf16():
            raise ValueError(
                "--mixed-precision bf16 on a CPU without avx512_bf16/amx_bf16 is emulated: measured 19x slower than fp32 "
                "(26.9 vs 1.4 s per step of the shipped base, batch 16, one core of an AVX2 EPYC); use --mixed-precision no"
            )
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be at least 1")
        if self.max_wall_minutes is not None and self.max_wall_minutes <= 0:
            raise ValueError(f"max_wall_minutes must be positive, got {self.max_wall_minutes}")
        if not 0 <= self.conditioning_dropout < 1 or not 0 <= self.glyph_dropout < 1 or self.conditioning_dropout + self.glyph_dropout >= 1:
            raise ValueError(
                f"conditioning_dropout ({self.conditioning_dropout}) and glyph_dropout ({self.glyph_dropout}) "
                "must each be in [0, 1) and add up to less than 1"
            )
        if not 0 <= self.template_share <= 1 or not 0 <= self.region_dropout < 1:
            raise ValueError(f"template_share must be in [0, 1] and region_dropout in [0, 1), got {self.template_share}, {self.region_dropout}")
        if self.glyph_loss_weight < 0:
            raise ValueError(f"glyph_loss_weight must be 0 or more, got {self.glyph_loss_weight}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.stage == "sr" and not self.low_res_size:
            raise ValueError("an SR run needs low_res_size (the base model's resolution)")
        if self.learned_variance and self.init_from is None:
            # The model predicts its variances in extra output channels, one per image channel.
            self.model = {**self.model, "out_channels": 2 * self.model.get("in_channels", 3)}

    def config_hash(self) -> str:
        payload = dataclasses.asdict(self)
        for volatile in ("output_dir", "steps", "max_wall_minutes", "save_every", "sample_every", "log_every", "num_workers", "threads"):
            payload.pop(volatile)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainingResult:
    model_dir: Path
    steps: int
    final_loss: float
    losses: list[float]


def build_model(config: TrainingConfig, log: Callable[[str], None]) -> GlyphUNet2DModel:
    if config.init_from:
        log(f"continuing from the weights in {config.init_from}")
        model = GlyphUNet2DModel.from_pretrained(config.init_from, torch_dtype=torch.float32)
        wanted = config.model.get("region_channels", 0)
        if wanted > model.config.region_channels:
            log(f"adding {wanted - model.config.region_channels} zero-initialised region-map input(s) to the continued model")
            model = model.with_region_channels(wanted)
        return _check_variance_channels(model, config)
    model = GlyphUNet2DModel(**config.model)
    _check_variance_channels(model, config)
    if config.stage == "sr" and config.warm_start_base:
        report = model.warm_start_from_base(GlyphUNet2DModel.from_pretrained(config.warm_start_base, torch_dtype=torch.float32))
        log(f"warm start from {config.warm_start_base}: {len(report.copied)} tensors copied")
    return model


def _check_variance_channels(model: GlyphUNet2DModel, config: TrainingConfig) -> GlyphUNet2DModel:
    learns_variance = model.config.out_channels == 2 * model.config.in_channels
    if learns_variance != config.learned_variance:
        raise ValueError(
            f"the model {'predicts' if learns_variance else 'does not predict'} variances "
            f"(out_channels={model.config.out_channels}); set learned_variance={learns_variance} to train it"
        )
    return model


def _dataset(config: TrainingConfig, size: int, excluded: frozenset[str], stream_seed: int, tokenizer: GlyphTokenizer):
    if config.folder_dataset:
        return FolderTextDataset(config.folder_dataset, size, tokenizer)
    return SyntheticTextDataset(
        size, config.text, seed=stream_seed, excluded=excluded, template_share=config.template_share,
        max_transcript_bytes=tokenizer.max_tokens - 1,
    )


def _forever(loader: DataLoader):
    while True:
        yield from loader


def _latest_checkpoint(output_dir: Path) -> Path | None:
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    return checkpoints[-1] if checkpoints else None


def _degraded(low: torch.Tensor) -> torch.Tensor:
    """Blur a random half of the SR stage's low-res inputs by 2x or 4x (down, then back up).

    The base model's pictures are softer than a downsampled photo of crisp text, most of all where the
    letters are: trained on sharp inputs alone, the SR stage copies the base's smudges into its strokes.
    Seeing blurred inputs too, it learns to take the letters from the glyph map and only the colours
    and background from the low-res picture."""
    size = low.shape[-1]
    factors = torch.tensor([1, 1, 2, 4])[torch.randint(0, 4, (low.shape[0],))]
    out = low.clone()
    for factor in (2, 4):
        rows = factors == factor
        if rows.any():
            small = F.interpolate(low[rows], size=(size // factor,) * 2, mode="area")
            out[rows] = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return out


@dataclass(frozen=True)
class _Totals:
    """Where a process starts: samples and seconds trained so far (earlier runs, and this run before a
    resume), and how much of that the weights the run (its output folder) started from already had."""

    step: int = 0
    samples_seen: int = 0
    wall_seconds: float = 0.0
    run_start_samples: int = 0
    run_start_seconds: float = 0.0


def _prior_totals(config: TrainingConfig, output_dir: Path) -> tuple[_Totals, Path | None]:
    """Where this run starts: its own latest checkpoint if any, else the totals of the weights it continues."""
    checkpoint = _latest_checkpoint(output_dir)
    if checkpoint is not None:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        start = state.get("run_start", {})
        return _Totals(
            state["step"], state["samples_seen"], state["wall_seconds"], start.get("samples_seen", 0), start.get("wall_seconds", 0.0)
        ), checkpoint
    if config.init_from and (Path(config.init_from) / "training.json").is_file():
        info = json.loads((Path(config.init_from) / "training.json").read_text())
        samples, seconds = info.get("samples_seen", 0), info.get("wall_time_seconds", 0.0)
        return _Totals(0, samples, seconds, samples, seconds), None
    return _Totals(), None


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (Linux's flags; elsewhere assume it does)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return "avx512_bf16" in flags or "amx_bf16" in flags


def machine_description() -> str:
    """CPU model and core count (or the GPU's name): what training.json says the run ran on."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model}, {torch.get_num_threads()} threads"


class Trainer:
    """Owns one run: model, EMA, optimiser, data, and the checkpoint folder."""

    def __init__(self, config: TrainingConfig, excluded_transcripts: frozenset[str] = frozenset(), log: Callable[[str], None] = print) -> None:
        self.config = config
        self.log = log
        self.output_dir = Path(config.output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.accelerator = Accelerator(mixed_precision=config.mixed_precision)
        self.model = build_model(config, log)
        self.size = self.model.config.sample_size
        self.tokenizer = GlyphTokenizer(self.model.config.max_tokens, self.model.config.max_lines)
        self.noise_scheduler = training_scheduler(config.prediction_type, config.learned_variance)
        self.ema = EMAModel(
            self.model.parameters(), decay=config.ema_decay, use_ema_warmup=True,
            model_cls=GlyphUNet2DModel, model_config=self.model.config,
        )
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, weight_decay=0.0)
        self.totals, checkpoint = _prior_totals(config, self.output_dir)
        self.progress = RunProgress(self.totals.step, config.steps, config.max_wall_minutes)
        lr_schedule = wall_clock_schedule(optimizer, config.lr_schedule, config.warmup_steps, self.progress)
        # A fresh stream per starting point: a resumed or continued run never replays what it already saw.
        stream_seed = config.seed * 1_000_003 + self.totals.samples_seen
        dataset = _dataset(config, self.size, excluded_transcripts, stream_seed, self.tokenizer)
        if isinstance(dataset, FolderTextDataset) and dataset.skipped:
            log(f"left out {len(dataset.skipped)} transcripts the model cannot take, e.g. {dataset.skipped[0][0]}: {dataset.skipped[0][1]}")
        loader = DataLoader(
            dataset, batch_size=config.batch_size,
            num_workers=config.num_workers, collate_fn=collate_examples, persistent_workers=config.num_workers > 0,
            shuffle=bool(config.folder_dataset),
        )
        self.model, self.optimizer, self.loader, self.lr_schedule = self.accelerator.prepare(self.model, optimizer, loader, lr_schedule)
        self.ema.to(self.accelerator.device)
        self.step, self.samples_seen, self.wall_seconds = self.totals.step, self.totals.samples_seen, self.totals.wall_seconds
        self.sample_texts, self.sample_layouts, self.sample_pixels = self._sample_inputs()
        if checkpoint is not None:
            self._resume(checkpoint)

    # ------------------------------------------------------------------ checkpoints

    def _resume(self, checkpoint: Path) -> None:
        self.accelerator.load_state(str(checkpoint))
        self.ema.load_state_dict(torch.load(checkpoint / "ema.pt", map_location="cpu", weights_only=False))
        self.ema.to(self.accelerator.device)
        self.log(f"resumed from {checkpoint} at step {self.step}")

    def save_checkpoint(self) -> Path:
        checkpoint = self.output_dir / f"checkpoint-{self.step}"
        self.accelerator.save_state(str(checkpoint))
        torch.save(self.ema.state_dict(), checkpoint / "ema.pt")
        (checkpoint / "trainer_state.json").write_text(
            json.dumps({
                "step": self.step, "samples_seen": self.samples_seen, "wall_seconds": self.wall_seconds,
                "run_start": {"samples_seen": self.totals.run_start_samples, "wall_seconds": self.totals.run_start_seconds},
            })
        )
        for old in sorted(self.output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old)
        return checkpoint

    def ema_model(self) -> GlyphUNet2DModel:
        """A detached copy of the model holding the EMA weights (what gets shipped)."""
        model = GlyphUNet2DModel.from_config(self.accelerator.unwrap_model(self.model).config)
        self.ema.copy_to(model.parameters())
        return model.to(self.accelerator.device).eval()

    def export(self, recent_loss: float) -> Path:
        """Write the shippable model: fp16 EMA weights, scheduler config, training.json.

        Written to a temporary folder and swapped in, so a reader never sees half an export."""
        target = self.output_dir / "model"
        staging = self.output_dir / "model.partial"
        shutil.rmtree(staging, ignore_errors=True)
        model = self.ema_model().half()  # .half(), not .to(): diffusers warns on every .to(dtype)
        model.save_pretrained(staging, max_shard_size="15MB", safe_serialization=True)
        self.noise_scheduler.save_pretrained(staging)
        info = {
            "stage": self.config.stage,
            "steps": self.step,
            "batch_size": self.config.batch_size,
            "samples_seen": self.samples_seen,
            "final_loss": recent_loss,
            "wall_time_seconds": round(self.wall_seconds, 1),
            "this_run": {
                "samples_seen": self.samples_seen - self.totals.run_start_samples,
                "wall_time_seconds": round(self.wall_seconds - self.totals.run_start_seconds, 1),
            },
            "device": machine_description(),
            "mixed_precision": self.config.mixed_precision,
            "prediction_type": self.config.prediction_type,
            "conditioning_dropout": self.config.conditioning_dropout,
            "glyph_dropout": self.config.glyph_dropout,
            "learning_rate": self.config.learning_rate,
            "lr_schedule": self.config.lr_schedule,
            "config_hash": self.config.config_hash(),
            "parameters": sum(p.numel() for p in model.parameters()),
            "text_distribution": dataclasses.asdict(self.config.text),
            "init_from": self.config.init_from,
            "warm_start_base": self.config.warm_start_base,
            "low_res_size": self.config.low_res_size,
            "template_share": self.config.template_share,
            "glyph_loss_weight": self.config.glyph_loss_weight,
            "region_channels": model.config.region_channels,
        }
        (staging / "training.json").write_text(json.dumps(info, indent=2) + "\n")
        old = self.output_dir / "model.old"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return target

    # ------------------------------------------------------------------ training

    def _dropped(self, texts: list[str], glyphs: torch.Tensor, regions: torch.Tensor) -> tuple[list[str | None], torch.Tensor, torch.Tensor]:
        """Conditioning dropout: text and glyph map together (CFG's unconditional branch), or the glyph
        map alone; the region map, which both branches of guidance read, on its own draw."""
        kept_texts: list[str | None] = []
        keep_map = torch.ones(len(texts), 1, 1, 1, dtype=glyphs.dtype, device=glyphs.device)
        keep_regions = torch.ones_like(keep_map)
        for index, text in enumerate(texts):
            draw = random.random()
            if draw < self.config.conditioning_dropout:
                kept_texts.append(None)
                keep_map[index] = 0
            else:
                kept_texts.append(text)
                if draw < self.config.conditioning_dropout + self.config.glyph_dropout:
                    keep_map[index] = 0
            if random.random() < self.config.region_dropout:
                keep_regions[index] = 0
        return kept_texts, glyphs * keep_map, regions * keep_regions

    def loss(self, pixels: torch.Tensor, texts: list[str], glyphs: torch.Tensor, regions: torch.Tensor | None = None) -> torch.Tensor:
        regions = torch.zeros_like(glyphs) if regions is None else regions
        pixel_weight = glyph_pixel_weight(glyphs, self.config.glyph_loss_weight)
        kept_texts, glyphs, regions = self._dropped(texts, glyphs, regions)
        tokens = self.tokenizer(kept_texts).to(pixels.device)
        batch = pixels.shape[0]
        scheduler = self.noise_scheduler
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), device=pixels.device)
        noise = torch.randn_like(pixels)
        noisy = scheduler.add_noise(pixels, noise, timesteps)
        model_config = self.accelerator.unwrap_model(self.model).config
        extra: dict[str, torch.Tensor] = {}
        if model_config.glyph_channels:
            extra["glyph"] = glyphs.expand(-1, model_config.glyph_channels, -1, -1)
        if model_config.region_channels:
            extra["region"] = regions.expand(-1, model_config.region_channels, -1, -1)
        if self.config.stage == "sr":
            low = _degraded(F.interpolate(pixels, size=(self.config.low_res_size,) * 2, mode="area"))
            levels = torch.randint(0, model_config.max_noise_level + 1, (batch,), device=pixels.device)
            extra.update(low_res=scheduler.add_noise(low, torch.randn_like(low), levels), noise_level=levels)
        output = self.model(noisy, timesteps, tokens.input_ids, tokens.attention_mask, tokens.line_ids, **extra).sample
        prediction, variance_values = split_learned_variance(output, pixels.shape[1])
        target = {"epsilon": noise, "sample": pixels}.get(self.config.prediction_type)
        if target is None:
            target = scheduler.get_velocity(pixels, noise, timesteps)
        squared = F.mse_loss(prediction.float(), target.float(), reduction="none")
        per_sample = (squared * pixel_weight).mean(dim=(1, 2, 3))
        if self.config.min_snr_gamma:
            # Min-SNR-gamma, written for each target: its epsilon-space weight min(snr, gamma) / snr.
            snr = compute_snr(scheduler, timesteps)
            clipped = torch.clamp(snr, max=self.config.min_snr_gamma)
            weight = {"epsilon": clipped / snr, "sample": clipped}.get(self.config.prediction_type, clipped / (snr + 1))
            per_sample = per_sample * weight
        if variance_values is not None:
            # improved-diffusion's hybrid loss: L_simple + lambda*L_vlb with lambda = 0.001 over 1000 terms,
            # i.e. one bound term per sample at weight 1 (the bound's mean is detached, see generation.variance).
            clean = self._predicted_clean(noisy, prediction.detach(), timesteps)
            per_sample = per_sample + variational_bound_bits(scheduler, pixels, noisy, timesteps, clean, variance_values)
        return per_sample.mean()

    def _predicted_clean(self, noisy: torch.Tensor, prediction: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        if self.config.prediction_type == "sample":
            return prediction.float()
        alphas_cumprod = self.noise_scheduler.alphas_cumprod.to(noisy.device)[timesteps].view(-1, 1, 1, 1)
        signal, noise_scale = alphas_cumprod.sqrt(), (1 - alphas_cumprod).sqrt()
        if self.config.prediction_type == "epsilon":
            return (noisy.float() - noise_scale * prediction.float()) / signal
        return signal * noisy.float() - noise_scale * prediction.float()

    def _sample_inputs(self) -> tuple[list[str], list, torch.Tensor]:
        """The fixed prompts of the sample grids, their layouts and (for SR) the pictures to upscale.

        Drawn once, from their own generator: taking a batch from the training loader would restart
        its workers and replay the stream."""
        rng = random.Random(12345)
        fonts = find_fonts()
        rendered = [render_text_image(text, self.size, rng, fonts) for text in SAMPLE_PROMPTS]
        texts = list(SAMPLE_PROMPTS)
        if self.config.template_share > 0:
            rendered += [render_template_image(text, template, self.size, rng, fonts) for template, text in TEMPLATE_SAMPLE_PROMPTS]
            texts += [text for _, text in TEMPLATE_SAMPLE_PROMPTS]
        pixels = torch.stack([image_to_tensor(image) for image, _ in rendered])
        return texts, [layout for _, layout in rendered], pixels

    def sample_grid(self) -> Path:
        """Sample the fixed prompts with the EMA weights and save a grid PNG for a quick look.

        DPM-Solver++ at the product's default base guidance: DDIM with guidance collapsed on small models."""
        model = self.ema_model()
        seeds = list(range(len(self.sample_texts)))
        if self.config.stage == "base":
            pipe = GlyphCascadePipeline(model, self.noise_scheduler)
            pipe.set_progress_bar_config(disable=True)
            images = pipe.generate_base(self.sample_texts, seeds=seeds, num_inference_steps=20, guidance_scale=option("guidance_scale").default, layouts=self.sample_layouts)
        else:
            pipe = GlyphCascadePipeline(None, None, model, self.noise_scheduler)
            pipe.set_progress_bar_config(disable=True)
            low = F.interpolate(self.sample_pixels, size=(self.config.low_res_size,) * 2, mode="area").to(self.accelerator.device)
            images = pipe.upscale(self.sample_texts, low, seeds=seeds, num_inference_steps=10, layouts=self.sample_layouts)
        grid = tile_grid(tensor_to_pil(images))
        path = self.output_dir / "samples" / f"step-{self.step:07d}.png"
        path.parent.mkdir(exist_ok=True)
        grid.save(path)
        return path

    def train(self, progress: bool = True) -> TrainingResult:
        config = self.config
        losses: list[float] = []
        smoothed = math.nan
        batches = _forever(self.loader)
        bar = tqdm(total=config.steps, initial=self.step, disable=not progress, desc=f"train {config.stage}", unit="step", mininterval=10)
        self.model.train()
        self.progress.restart_clock()
        while self.step < config.steps:
            started = time.perf_counter()
            batch = next(batches)
            with self.accelerator.accumulate(self.model):
                loss = self.loss(batch["pixels"], batch["texts"], batch["glyphs"], batch["regions"])
                self.accelerator.backward(loss)
                if self.accelerator.sync_gradients and config.grad_clip:
                    self.accelerator.clip_grad_norm_(self.model.parameters(), config.grad_clip)
                self.optimizer.step()
                self.lr_schedule.step()
                self.optimizer.zero_grad(set_to_none=True)
            self.ema.step(self.accelerator.unwrap_model(self.model).parameters())
            self.step += 1
            self.progress.step = self.step
            self.samples_seen += len(batch["texts"])
            elapsed = time.perf_counter() - started
            self.wall_seconds += elapsed
            value = float(loss.detach())
            losses.append(value)
            smoothed = value if math.isnan(smoothed) else 0.98 * smoothed + 0.02 * value
            bar.update(1)
            if self.step % config.log_every == 0 or self.step == config.steps:
                bar.set_postfix(loss=f"{smoothed:.4f}", samples_per_s=f"{len(batch['texts']) / max(elapsed, 1e-9):.1f}")
            if self.step % config.save_every == 0:
                self.save_checkpoint()
                self.export(smoothed)
                self.log(
                    f"step {self.step}: loss {smoothed:.4f}, {self.samples_seen} samples seen, "
                    f"{self.samples_seen / max(self.wall_seconds, 1e-9):.1f} samples/s overall; exported {self.output_dir / 'model'}"
                )
            if self.step % config.sample_every == 0:
                self.log(f"samples: {self.sample_grid()}")
            if self.progress.out_of_time():
                # A session or a lent GPU lasts a fixed time: stop cleanly and ship what was learned so far.
                self.log(f"wall-clock budget of {config.max_wall_minutes} min reached at step {self.step}")
                break
        bar.close()
        self.save_checkpoint()
        recent = losses[-50:]
        final = sum(recent) / len(recent) if recent else float("nan")
        return TrainingResult(self.export(final), self.step, final, losses)
