"""Learned styles, learned from example pictures while every weight of the model stays frozen, one of
two ways (seeds 001 and 004): LoRA adapters on the base U-Net (generation.style_adapters, the default),
or a few new "words" for the text encoder (textual inversion, this module). A LoRA style adapts the SR
stage too, where texture is drawn. Both are kept in one file
format (`StyleTokens`), with the examples' palette, their grain (synthesised on the final pictures,
generation.film_grain: no x0-predicting model draws per-pixel noise), transcripts and the hash of the
model they fit.

A vectors style is `slots` vectors in the text encoder's input space. At sampling time they take the places
of the style placeholders that the tokenizer appends after the text (generation.tokenizer), in the
conditional branch only, so classifier-free guidance pushes towards the style.

Learning runs the base model's own training objective on the examples: each example's transcript
(given, or read by OCR) and a glyph map estimated from the picture itself (its minority colour is
taken to be the letters), so what the vectors must explain is what the transcript and the map do
not: colours, background and texture, not the words. Only the base stage reads the vectors.

Measured on the shipped CPU model: the vectors alone barely move colours (an adapter alone does) (the model learned to take
its colours from the noise, not from the text), so a style also keeps the examples' palette (the
letters' and the background's colours) and steers sampling towards it with the same clean-image
guidance as `--style-image` (generation.guidance). Figures: README, "Styles".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from generation.colour import Palette, centre_square, split_two_colours
from generation.film_grain import FilmGrain, measure_grain
from generation.style_adapters import (
    DEFAULT_LORA_STEPS,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_RANK,
    DEFAULT_SR_LORA_STEPS,
    AdapterMismatchError,
    PriorSet,
    TrainingBatch,
    applied_adapter,
    check_adapter,
    denoising_loss,
    example_maps,
    learn_adapter,
    optimise,
)
from generation.tokenizer import STYLE_SLOTS
from generation.types import MAX_STYLE_EXAMPLES, MIN_STYLE_EXAMPLES
from generation.unet import GlyphUNet2DModel

MIN_EXAMPLES, MAX_EXAMPLES = MIN_STYLE_EXAMPLES, MAX_STYLE_EXAMPLES
MIN_EXAMPLE_SIDE = 32  # px: below this an example says nothing about texture
DEFAULT_SLOTS = 4
DEFAULT_STEPS = 300
MAX_RANK = 64
FILE_FORMAT = "glyphbot-style-2"
_VECTORS_FORMAT = "glyphbot-style-1"  # before LoRA styles: vectors and a palette, nothing else


class UnusableStyleError(ValueError):
    """A style that cannot be learned, read or used here, and why."""


@dataclass(frozen=True)
class StyleExample:
    """One example picture and the text written in it (what the style must not learn)."""

    image: Image.Image
    transcript: str
    label: str  # how the user named it (a file name), for error messages


@dataclass(frozen=True)
class StyleTokens:
    """A learned style, as its file holds it: textual-inversion vectors (slots, text width) or LoRA
    adapter weights (generation.style_adapters) for the base and, when learned, the SR stage, the
    examples' palette that sampling steers towards, the hash of the models it was learned on (the base,
    and the SR model too for a style that adapts it), and the examples' transcripts (to learn it again)."""

    name: str
    vectors: torch.Tensor | None
    palette: Palette | None
    model_hash: str
    steps: int
    loss: float
    adapter: dict[str, torch.Tensor] | None = None
    rank: int = 0
    transcripts: tuple[str, ...] = ()
    sr_adapter: dict[str, torch.Tensor] | None = None
    sr_steps: int = 0
    grain: FilmGrain | None = None  # the examples' grain, synthesised on the final pictures (generation.film_grain)

    @property
    def method(self) -> str:
        """"lora" for adapters, "vectors" for textual inversion (generation.types.STYLE_METHODS)."""
        return "lora" if self.adapter is not None else "vectors"

    @property
    def slots(self) -> int:
        return 0 if self.vectors is None else int(self.vectors.shape[0])

    def without_palette(self) -> "StyleTokens":
        """The same style with no palette to steer towards (`bench look` measures the model's part alone)."""
        return replace(self, palette=None)

    def without_grain(self) -> "StyleTokens":
        """The same style with no grain synthesis (`bench look` measures what the models draw alone)."""
        return replace(self, grain=None)

    def applied(self, unet: GlyphUNet2DModel, strength: float) -> contextlib.AbstractContextManager[None]:
        """A block inside which `unet` (the base or the SR model) draws with this style's adapter for its
        stage at `strength` (nothing for vectors, or a stage without one); `unet` is exactly as before
        after it, however the block ends."""
        weights = self.sr_adapter if unet.is_super_resolution else self.adapter
        if weights is None:
            return contextlib.nullcontext()
        return applied_adapter(unet, weights, self.rank, strength)

    def to_bytes(self) -> bytes:
        metadata = {
            "format": FILE_FORMAT, "name": self.name, "method": self.method, "model_hash": self.model_hash, "steps": str(self.steps),
            "loss": repr(self.loss), "rank": str(self.rank), "transcripts": json.dumps(list(self.transcripts)),
            "sr_steps": str(self.sr_steps),
        }
        tensors = {} if self.vectors is None else {"base": self.vectors.detach().float().contiguous().cpu()}
        if self.palette is not None:
            tensors.update({f"palette.{name}": getattr(self.palette, name).float().contiguous().cpu() for name in _PALETTE_FIELDS})
        tensors.update({f"{_ADAPTER_PREFIX}{key}": value.detach().contiguous().cpu() for key, value in (self.adapter or {}).items()})
        tensors.update({f"{_SR_ADAPTER_PREFIX}{key}": value.detach().contiguous().cpu() for key, value in (self.sr_adapter or {}).items()})
        if self.grain is not None:
            tensors[_GRAIN_KEY] = self.grain.to_tensor()
        return save_tensors(tensors, metadata=metadata)

    @classmethod
    def from_bytes(cls, data: bytes) -> "StyleTokens":
        """Read a style file (this format or the older vectors-only one); a corrupt or foreign file
        raises UnusableStyleError saying so."""
        try:
            tensors = load_tensors(data)
            metadata = _metadata(data)
            transcripts = json.loads(metadata.get("transcripts", "[]"))
        except (SafetensorError, ValueError, json.JSONDecodeError) as error:
            raise UnusableStyleError(f"the style file is not a glyphbot style (corrupt safetensors: {error})") from None
        vectors = tensors.get("base")
        colours = [tensors.get(f"palette.{name}") for name in _PALETTE_FIELDS]
        adapter = {key[len(_ADAPTER_PREFIX):]: value for key, value in tensors.items() if key.startswith(_ADAPTER_PREFIX)} or None
        sr_adapter = {key[len(_SR_ADAPTER_PREFIX):]: value for key, value in tensors.items() if key.startswith(_SR_ADAPTER_PREFIX)} or None
        vectors_ok = vectors is not None and vectors.ndim == 2 and 1 <= vectors.shape[0] <= STYLE_SLOTS
        palette_ok = all(colour is not None and colour.shape == (3,) for colour in colours)
        if metadata.get("format") == _VECTORS_FORMAT:
            adapter, sr_adapter, known = None, None, vectors_ok and palette_ok
        else:
            known = metadata.get("format") == FILE_FORMAT and (vectors_ok or (vectors is None and adapter is not None)) and (
                palette_ok or all(colour is None for colour in colours)) and (sr_adapter is None or adapter is not None)
        if not known or not isinstance(transcripts, list) or not all(isinstance(line, str) for line in transcripts):
            raise UnusableStyleError(
                f"the style file is not a {FILE_FORMAT} file (1 to {STYLE_SLOTS} base vectors or a LoRA adapter, and a palette)"
            )
        try:
            steps, loss, rank = int(metadata.get("steps", 0)), float(metadata.get("loss", "nan")), int(metadata.get("rank", 0))
            sr_steps = int(metadata.get("sr_steps", 0))
        except ValueError:
            raise UnusableStyleError("the style file's steps, loss or rank are not numbers; it was not written by glyphbot") from None
        palette = Palette(*colours) if palette_ok else None
        try:
            grain = FilmGrain.from_tensor(tensors[_GRAIN_KEY]) if _GRAIN_KEY in tensors else None
        except ValueError as error:
            raise UnusableStyleError(f"the style file's grain is unreadable ({error}); it was not written by glyphbot") from None
        return cls(metadata.get("name", ""), vectors, palette, metadata.get("model_hash", ""), steps, loss, adapter, rank, tuple(transcripts),
                   sr_adapter, sr_steps, grain)

    def check_fits(self, unet: GlyphUNet2DModel, sr_unet: GlyphUNet2DModel | None = None) -> None:
        """Refuse a style whose vectors or adapters do not fit these models (learned for another architecture)."""
        again = f"learn it again (`glyphbot style relearn {self.name}`)"
        width = unet.text_encoder.transformer.embed_tokens.embedding_dim
        if self.vectors is not None and self.vectors.shape[1] != width:
            raise UnusableStyleError(
                f"style {self.name!r} has {self.vectors.shape[1]}-wide vectors, but this base model's text encoder is "
                f"{width} wide: it was learned for another model; {again}"
            )
        adapters = [(unet, self.adapter), (sr_unet, self.sr_adapter if sr_unet is not None else None)]
        for model, weights in adapters:
            if weights is None:
                continue
            try:
                check_adapter(model, weights, self.rank)
            except AdapterMismatchError as error:
                raise UnusableStyleError(f"style {self.name!r}: {error}; it was learned for another model; {again}") from None

    def check_current(self, hashes: Callable[[bool], str]) -> None:
        """Refuse a style learned on other models than these: its vectors or adapters were fitted to
        weights that are gone, so it would be silently misapplied. `hashes(with_sr)` is the models'
        `model_hash`: the base model's alone, or with the SR model's for a style that adapts both."""
        current = hashes(self.sr_adapter is not None)
        if self.model_hash != current:
            models = "other base and SR models" if self.sr_adapter is not None else "another base model"
            raise UnusableStyleError(
                f"style {self.name!r} was learned on {models} ({self.model_hash}; the current ones are {current}): "
                f"learn it again with `glyphbot style relearn {self.name}`"
            )


_PALETTE_FIELDS = ("text_mean", "text_std", "background_mean", "background_std")
_ADAPTER_PREFIX = "adapter."
_SR_ADAPTER_PREFIX = "sr_adapter."
_GRAIN_KEY = "grain"


def _metadata(data: bytes) -> dict[str, str]:
    """The __metadata__ of a safetensors blob (the header is 8 bytes of length, then JSON)."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]).get("__metadata__", {})


def model_hash(unet: GlyphUNet2DModel, *more: GlyphUNet2DModel) -> str:
    """A short fingerprint of the models' weights: a style records which models it was learned on (the
    base; the base and the SR model for a style that adapts both)."""
    digest = hashlib.sha256()
    for model in (unet, *more):
        _hash_weights(digest, model)
    return digest.hexdigest()[:16]


def model_hashes(unet: GlyphUNet2DModel, sr_unet: GlyphUNet2DModel | None) -> tuple[str, str | None]:
    """`model_hash(unet)` and `model_hash(unet, sr_unet)` (None without an SR model), reading the base's
    weights once: the two hashes a current style may carry."""
    digest = hashlib.sha256()
    _hash_weights(digest, unet)
    base_only = digest.hexdigest()[:16]
    if sr_unet is None:
        return base_only, None
    _hash_weights(digest, sr_unet)
    return base_only, digest.hexdigest()[:16]


def _hash_weights(digest: "hashlib._Hash", model: GlyphUNet2DModel) -> None:
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())


def check_examples(examples: Sequence[StyleExample]) -> None:
    """Refuse too few or too many examples, tiny pictures and examples without text."""
    if not MIN_EXAMPLES <= len(examples) <= MAX_EXAMPLES:
        raise UnusableStyleError(f"a style is learned from {MIN_EXAMPLES} to {MAX_EXAMPLES} example pictures; got {len(examples)}")
    for example in examples:
        if min(example.image.size) < MIN_EXAMPLE_SIDE:
            raise UnusableStyleError(
                f"example {example.label} is {example.image.width}x{example.image.height} px; each example needs at "
                f"least {MIN_EXAMPLE_SIDE} px on its shorter side"
            )
        if not example.transcript.strip():
            raise UnusableStyleError(
                f"example {example.label} has no transcript and OCR read no text in it; put its text in a .txt file beside it"
            )


def example_tensors(examples: Sequence[StyleExample], size: int) -> tuple[torch.Tensor, torch.Tensor, Palette]:
    """Pictures (n, 3, size, size) in [-1, 1], their estimated glyph maps (n, 1, size, size) in [0, 1]
    and their mean palette.

    The map is the picture's minority colour, found at 4x the size and averaged down, so its edges
    are anti-aliased like a rendered glyph map's."""
    pictures, maps, palettes = [], [], []
    for example in examples:
        square = centre_square(example.image)
        large = torch.from_numpy(np.asarray(square.resize((size * 4, size * 4), Image.Resampling.BICUBIC), np.float32) / 127.5 - 1)
        large = large.permute(2, 0, 1)
        split = split_two_colours(large)
        maps.append(F.avg_pool2d(split.text_mask[None, None], 4)[0])
        palettes.append(split.palette)
        pictures.append(F.avg_pool2d(large[None], 4)[0])
    return torch.stack(pictures), torch.stack(maps), Palette.average(palettes)


def example_grain(examples: Sequence[StyleExample], size: int) -> FilmGrain:
    """The examples' grain at `size` px, the final pictures' size (the SR model's, or the base's alone)."""
    pictures, maps, _ = example_tensors(examples, size)
    return measure_grain(pictures, maps)


def learn_style(
    name: str,
    unet: GlyphUNet2DModel,
    noise_scheduler,  # noqa: ANN001  the base's DDPMScheduler (training noise schedule)
    tokenizer,  # noqa: ANN001  generation.tokenizer.GlyphTokenizer
    examples: Sequence[StyleExample],
    steps: int = DEFAULT_STEPS,
    slots: int = DEFAULT_SLOTS,
    learning_rate: float = 0.1,
    batch_size: int = 8,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> StyleTokens:
    """Learn `slots` vectors that make the frozen base model draw the examples' look.

    The objective is the base model's own (denoise the examples at random noise levels, given their
    transcripts and glyph maps), with the style's placeholders after each transcript; only the
    vectors get gradients. `progress(step, loss)` is called after every step."""
    check_examples(examples)
    if not 1 <= slots <= STYLE_SLOTS:
        raise UnusableStyleError(f"a style has 1 to {STYLE_SLOTS} vectors; got {slots}")
    if steps < 1:
        raise UnusableStyleError(f"steps must be at least 1, got {steps}")
    device = unet.device
    unet.requires_grad_(False)
    unet.eval()
    pictures, maps, palette = example_tensors(examples, unet.config.sample_size)
    transcripts = [example.transcript for example in examples]
    batch = TrainingBatch(pictures.to(device), tokenizer(transcripts, style_slots=slots).to(device), example_maps(unet, maps.to(device)))
    generator = torch.Generator("cpu").manual_seed(seed)
    table = unet.text_encoder.transformer.embed_tokens.weight.detach().float()
    start = table[3:259].mean(dim=0)  # the mean byte: a vector the encoder knows how to read
    vectors = (start[None].repeat(slots, 1) + 0.01 * torch.randn(slots, table.shape[1], generator=generator).to(device)).requires_grad_(True)
    optimiser = torch.optim.Adam([vectors], lr=learning_rate)
    average = optimise(
        optimiser, steps, lambda: denoising_loss(unet, noise_scheduler, batch, batch_size, generator, style_embeds=vectors[None]), progress
    )
    return StyleTokens(name, vectors.detach().cpu(), palette, model_hash(unet), steps, average, transcripts=tuple(transcripts))


@dataclass(frozen=True)
class SuperResolutionPlan:
    """How a LoRA style adapts the SR stage as well: its model and noise schedule, its prior (the data
    engine's pictures, generation.style_adapters.engine_prior; None: no prior loss) and its steps."""

    unet: GlyphUNet2DModel
    noise_scheduler: object  # the SR model's DDPMScheduler
    prior: PriorSet | None
    steps: int = DEFAULT_SR_LORA_STEPS
    progress: Callable[[int, float], None] | None = None


def learn_lora_style(
    name: str,
    unet: GlyphUNet2DModel,
    noise_scheduler,  # noqa: ANN001  the base's DDPMScheduler (training noise schedule)
    tokenizer,  # noqa: ANN001  generation.tokenizer.GlyphTokenizer
    examples: Sequence[StyleExample],
    prior: PriorSet | None,
    steps: int = DEFAULT_LORA_STEPS,
    rank: int = DEFAULT_RANK,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
    sr: SuperResolutionPlan | None = None,
) -> StyleTokens:
    """Learn LoRA adapters from the examples (generation.style_adapters): the base model's, with the
    prior-preservation loss on `prior` (the frozen model's own pictures; None learns without it), then,
    with an `sr` plan, the SR model's from the same examples at its size."""
    check_examples(examples)
    if steps < 1:
        raise UnusableStyleError(f"steps must be at least 1, got {steps}")
    if sr is not None and sr.steps < 1:
        raise UnusableStyleError(f"SR steps must be at least 1, got {sr.steps} (learn no SR adapter instead)")
    if not 1 <= rank <= MAX_RANK:
        raise UnusableStyleError(f"a LoRA style's rank is 1 to {MAX_RANK}; got {rank}")
    pictures, maps, palette = example_tensors(examples, unet.config.sample_size)
    transcripts = tuple(example.transcript for example in examples)
    learned = learn_adapter(unet, noise_scheduler, tokenizer, pictures, maps, transcripts, prior, steps=steps, rank=rank, prior_weight=prior_weight,
                            seed=seed, progress=progress)
    style = StyleTokens(name, None, palette, model_hash(unet), steps, learned.loss, learned.weights, rank, transcripts)
    if sr is None:
        return style
    sr_pictures, sr_maps, _ = example_tensors(examples, sr.unet.config.sample_size)
    sr_learned = learn_adapter(
        sr.unet, sr.noise_scheduler, tokenizer, sr_pictures, sr_maps, transcripts, sr.prior, steps=sr.steps, rank=rank,
        prior_weight=prior_weight, seed=seed, progress=sr.progress, low_res_size=unet.config.sample_size,
    )
    return replace(style, sr_adapter=sr_learned.weights, sr_steps=sr.steps, model_hash=model_hash(unet, sr.unet))
