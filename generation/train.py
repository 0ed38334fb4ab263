"""Training loop for the base and super-resolution models (`glyphbot train base|sr`).

One loop serves both stages: a super-resolution step derives its low-resolution input from the
high-resolution batch (downsampled, then noise-augmented with a random level the model is told).
Accelerate handles device placement and bf16/fp16 on a GPU; the same code runs on a CPU with a
tiny model config, which is how the tests exercise it.

Each run can continue from shipped weights (`init_from`), warm-start an SR model from a base model
(`warm_start_base`), and resume an interrupted run from its own latest checkpoint in `output_dir`.
The product of a run is `output_dir/model`: the EMA weights in fp16 shards of at most 15 MB, the
training scheduler's config and a `training.json` describing the run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel, compute_snr
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from generation.data.datasets import FolderTextDataset, SyntheticTextDataset, collate_examples
from generation.data.grid import tile_grid
from generation.data.text_sampler import TextSamplerConfig
from generation.pipeline import GlyphCascadePipeline, tensor_to_pil
from generation.schedulers import PREDICTION_TYPES, training_scheduler
from generation.tokenizer import GlyphTokenizer
from generation.unet import GlyphUNet2DModel
from generation.variance import split_learned_variance, variational_bound_bits

SAMPLE_PROMPTS = ("the\nwhat string\ncommit", "HELLO\nWORLD", "glyphbot 2026", "Open 9-5")
KEEP_CHECKPOINTS = 2


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
    prediction_type: str = "epsilon"
    learned_variance: bool = False
    min_snr_gamma: float | None = 5.0
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
    sr_max_noise_level: int = 250

    def __post_init__(self) -> None:
        if self.stage not in ("base", "sr"):
            raise ValueError(f"stage must be 'base' or 'sr', got {self.stage!r}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be at least 1")
        if self.max_wall_minutes is not None and self.max_wall_minutes <= 0:
            raise ValueError(f"max_wall_minutes must be positive, got {self.max_wall_minutes}")
        if not 0 <= self.conditioning_dropout < 1:
            raise ValueError(f"conditioning_dropout must be in [0, 1), got {self.conditioning_dropout}")
        if self.stage == "sr" and not self.low_res_size:
            raise ValueError("an SR run needs low_res_size (the base model's resolution)")
        if self.learned_variance and self.init_from is None:
            # The model predicts its variances in extra output channels, one per image channel.
            self.model = {**self.model, "out_channels": 2 * self.model.get("in_channels", 3)}

    def config_hash(self) -> str:
        payload = dataclasses.asdict(self)
        for volatile in ("output_dir", "steps", "max_wall_minutes", "save_every", "sample_every", "log_every", "num_workers"):
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
        return _check_variance_channels(GlyphUNet2DModel.from_pretrained(config.init_from, torch_dtype=torch.float32), config)
    model = GlyphUNet2DModel(**config.model)
    _check_variance_channels(model, config)
    if config.stage == "sr" and config.warm_start_base:
        report = model.warm_start_from_base(GlyphUNet2DModel.from_pretrained(config.warm_start_base, torch_dtype=torch.float32))
        log(
            f"warm start from {config.warm_start_base}: {len(report.copied)} tensors copied, "
            f"{len(report.shape_mismatch)} left fresh for shape ({', '.join(report.shape_mismatch) or 'none'})"
        )
    return model


def _check_variance_channels(model: GlyphUNet2DModel, config: TrainingConfig) -> GlyphUNet2DModel:
    learns_variance = model.config.out_channels == 2 * model.config.in_channels
    if learns_variance != config.learned_variance:
        raise ValueError(
            f"the model {'predicts' if learns_variance else 'does not predict'} variances "
            f"(out_channels={model.config.out_channels}); set learned_variance={learns_variance} to train it"
        )
    return model


def _dataset(config: TrainingConfig, size: int, excluded: frozenset[str]):
    if config.folder_dataset:
        return FolderTextDataset(config.folder_dataset, size)
    return SyntheticTextDataset(size, config.text, seed=config.seed, excluded=excluded)


def _forever(loader: DataLoader):
    while True:
        yield from loader


def _latest_checkpoint(output_dir: Path) -> Path | None:
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    return checkpoints[-1] if checkpoints else None


class Trainer:
    """Owns one run: model, EMA, optimiser, data, and the checkpoint folder."""

    def __init__(self, config: TrainingConfig, excluded_transcripts: frozenset[str] = frozenset(), log: Callable[[str], None] = print) -> None:
        self.config = config
        self.log = log
        self.output_dir = Path(config.output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
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
        lr_schedule = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=config.warmup_steps)
        loader = DataLoader(
            _dataset(config, self.size, excluded_transcripts), batch_size=config.batch_size,
            num_workers=config.num_workers, collate_fn=collate_examples, persistent_workers=config.num_workers > 0,
            shuffle=bool(config.folder_dataset),
        )
        self.model, self.optimizer, self.loader, self.lr_schedule = self.accelerator.prepare(self.model, optimizer, loader, lr_schedule)
        self.ema.to(self.accelerator.device)
        self.step = 0
        self.samples_seen = 0
        self.wall_seconds = 0.0
        self._resume()

    # ------------------------------------------------------------------ checkpoints

    def _resume(self) -> None:
        checkpoint = _latest_checkpoint(self.output_dir)
        if checkpoint is None:
            return
        self.accelerator.load_state(str(checkpoint))
        self.ema.load_state_dict(torch.load(checkpoint / "ema.pt", map_location="cpu", weights_only=False))
        self.ema.to(self.accelerator.device)
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        self.step, self.samples_seen, self.wall_seconds = state["step"], state["samples_seen"], state["wall_seconds"]
        self.log(f"resumed from {checkpoint} at step {self.step}")

    def save_checkpoint(self) -> Path:
        checkpoint = self.output_dir / f"checkpoint-{self.step}"
        self.accelerator.save_state(str(checkpoint))
        torch.save(self.ema.state_dict(), checkpoint / "ema.pt")
        (checkpoint / "trainer_state.json").write_text(
            json.dumps({"step": self.step, "samples_seen": self.samples_seen, "wall_seconds": self.wall_seconds})
        )
        for old in sorted(self.output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old)
        return checkpoint

    def ema_model(self) -> GlyphUNet2DModel:
        """A detached copy of the model holding the EMA weights (what gets shipped)."""
        model = GlyphUNet2DModel.from_config(self.accelerator.unwrap_model(self.model).config)
        self.ema.copy_to(model.parameters())
        return model.to(self.accelerator.device).eval()

    def export(self, final_loss: float) -> Path:
        """Write the shippable model: fp16 EMA weights, scheduler config, training.json."""
        target = self.output_dir / "model"
        model = self.ema_model().half()  # .half(), not .to(): diffusers warns on every .to(dtype)
        model.save_pretrained(target, max_shard_size="15MB", safe_serialization=True)
        self.noise_scheduler.save_pretrained(target)
        device = self.accelerator.device
        info = {
            "stage": self.config.stage,
            "steps": self.step,
            "batch_size": self.config.batch_size,
            "samples_seen": self.samples_seen,
            "final_loss": final_loss,
            "wall_time_seconds": round(self.wall_seconds, 1),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "mixed_precision": self.config.mixed_precision,
            "config_hash": self.config.config_hash(),
            "parameters": sum(p.numel() for p in model.parameters()),
            "text_distribution": dataclasses.asdict(self.config.text),
            "init_from": self.config.init_from,
            "warm_start_base": self.config.warm_start_base,
            "low_res_size": self.config.low_res_size,
        }
        (target / "training.json").write_text(json.dumps(info, indent=2) + "\n")
        return target

    # ------------------------------------------------------------------ training

    def _conditioning_texts(self, texts: list[str]) -> list[str | None]:
        """Drop each caption to the mask prompt with the configured probability (for CFG)."""
        return [None if random.random() < self.config.conditioning_dropout else text for text in texts]

    def loss(self, pixels: torch.Tensor, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(self._conditioning_texts(texts)).to(pixels.device)
        batch = pixels.shape[0]
        scheduler = self.noise_scheduler
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), device=pixels.device)
        noise = torch.randn_like(pixels)
        noisy = scheduler.add_noise(pixels, noise, timesteps)
        extra: dict[str, torch.Tensor] = {}
        if self.config.stage == "sr":
            low = F.interpolate(pixels, size=(self.config.low_res_size,) * 2, mode="area")
            levels = torch.randint(0, self.config.sr_max_noise_level + 1, (batch,), device=pixels.device)
            extra = {"low_res": scheduler.add_noise(low, torch.randn_like(low), levels), "noise_level": levels}
        output = self.model(noisy, timesteps, tokens.input_ids, tokens.attention_mask, tokens.line_ids, **extra).sample
        prediction, variance_values = split_learned_variance(output, pixels.shape[1])
        target = noise if self.config.prediction_type == "epsilon" else scheduler.get_velocity(pixels, noise, timesteps)
        per_sample = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        if self.config.min_snr_gamma:
            snr = compute_snr(scheduler, timesteps)
            clipped = torch.clamp(snr, max=self.config.min_snr_gamma)
            weight = clipped / snr if self.config.prediction_type == "epsilon" else clipped / (snr + 1)
            per_sample = per_sample * weight
        if variance_values is not None:
            # improved-diffusion's hybrid loss: L_simple + lambda*L_vlb with lambda = 0.001 over 1000 terms,
            # i.e. one bound term per sample at weight 1 (the bound's mean is detached, see generation.variance).
            clean = self._predicted_clean(noisy, prediction.detach(), timesteps)
            per_sample = per_sample + variational_bound_bits(scheduler, pixels, noisy, timesteps, clean, variance_values)
        return per_sample.mean()

    def _predicted_clean(self, noisy: torch.Tensor, prediction: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        alphas_cumprod = self.noise_scheduler.alphas_cumprod.to(noisy.device)[timesteps].view(-1, 1, 1, 1)
        signal, noise_scale = alphas_cumprod.sqrt(), (1 - alphas_cumprod).sqrt()
        if self.config.prediction_type == "epsilon":
            return (noisy.float() - noise_scale * prediction.float()) / signal
        return signal * noisy.float() - noise_scale * prediction.float()

    def sample_grid(self) -> Path:
        """Sample the fixed prompts with the EMA weights and save a grid PNG for a quick look."""
        model = self.ema_model()
        prompts = list(SAMPLE_PROMPTS)
        if self.config.stage == "base":
            pipe = GlyphCascadePipeline(model, self.noise_scheduler)
            pipe.set_progress_bar_config(disable=True)
            images = pipe.generate_base(prompts, seeds=list(range(len(prompts))), num_inference_steps=25, guidance_scale=2.0, scheduler="ddim")
        else:
            pipe = GlyphCascadePipeline(None, None, model, self.noise_scheduler)
            pipe.set_progress_bar_config(disable=True)
            batch = next(iter(self.loader))
            prompts = batch["texts"][: len(prompts)]
            low = F.interpolate(batch["pixels"][: len(prompts)].float(), size=(self.config.low_res_size,) * 2, mode="area")
            images = pipe.upscale(prompts, low, seeds=list(range(len(prompts))), num_inference_steps=25, scheduler="ddim")
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
        bar = tqdm(total=config.steps, initial=self.step, disable=not progress, desc=f"train {config.stage}", unit="step")
        self.model.train()
        budget_s = config.max_wall_minutes * 60 if config.max_wall_minutes else math.inf
        run_started = time.perf_counter()
        while self.step < config.steps:
            started = time.perf_counter()
            batch = next(batches)
            with self.accelerator.accumulate(self.model):
                loss = self.loss(batch["pixels"], batch["texts"])
                self.accelerator.backward(loss)
                if self.accelerator.sync_gradients and config.grad_clip:
                    self.accelerator.clip_grad_norm_(self.model.parameters(), config.grad_clip)
                self.optimizer.step()
                self.lr_schedule.step()
                self.optimizer.zero_grad(set_to_none=True)
            self.ema.step(self.accelerator.unwrap_model(self.model).parameters())
            self.step += 1
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
            if self.step % config.sample_every == 0:
                self.log(f"samples: {self.sample_grid()}")
            if time.perf_counter() - run_started > budget_s:
                # A lent GPU is held for a fixed time: stop cleanly and ship what was learned so far.
                self.log(f"wall-clock budget of {config.max_wall_minutes} min reached at step {self.step}")
                break
        bar.close()
        self.save_checkpoint()
        recent = losses[-50:]
        final = sum(recent) / len(recent) if recent else float("nan")
        return TrainingResult(self.export(final), self.step, final, losses)
