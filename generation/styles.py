"""Learned styles: a few new "words" for the text encoder, learned from example pictures while every
weight of the model stays frozen (textual inversion, seeds 001 and 004).

A style is `slots` vectors in the text encoder's input space. At sampling time they take the places
of the style placeholders that the tokenizer appends after the text (generation.tokenizer), in the
conditional branch only, so classifier-free guidance pushes towards the style.

Learning runs the base model's own training objective on the examples: each example's transcript
(given, or read by OCR) and a glyph map estimated from the picture itself (its minority colour is
taken to be the letters), so what the vectors must explain is what the transcript and the map do
not: colours, background and texture, not the words. Only the base stage reads the vectors.

Measured on the shipped CPU model: the vectors alone barely move colours (the model learned to take
its colours from the noise, not from the text), so a style also keeps the examples' palette (the
letters' and the background's colours) and steers sampling towards it with the same clean-image
guidance as `--style-image` (generation.guidance). Figures: README, "Styles".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from generation.colour import Palette, centre_square, split_two_colours
from generation.tokenizer import STYLE_SLOTS
from generation.types import MAX_STYLE_EXAMPLES, MIN_STYLE_EXAMPLES
from generation.unet import GlyphUNet2DModel

MIN_EXAMPLES, MAX_EXAMPLES = MIN_STYLE_EXAMPLES, MAX_STYLE_EXAMPLES
MIN_EXAMPLE_SIDE = 32  # px: below this an example says nothing about texture
DEFAULT_SLOTS = 4
DEFAULT_STEPS = 300
FILE_FORMAT = "glyphbot-style-1"


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
    """A learned style: its vectors (slots, text width), its examples' palette, and what it was learned on."""

    name: str
    vectors: torch.Tensor
    palette: Palette
    model_hash: str
    steps: int
    loss: float

    @property
    def slots(self) -> int:
        return int(self.vectors.shape[0])

    def to_bytes(self) -> bytes:
        metadata = {"format": FILE_FORMAT, "name": self.name, "model_hash": self.model_hash, "steps": str(self.steps), "loss": repr(self.loss)}
        tensors = {"base": self.vectors.detach().float().contiguous().cpu()}
        tensors.update({f"palette.{name}": getattr(self.palette, name).float().contiguous().cpu() for name in _PALETTE_FIELDS})
        return save_tensors(tensors, metadata=metadata)

    @classmethod
    def from_bytes(cls, data: bytes) -> "StyleTokens":
        """Read a style file; a corrupt or foreign file raises UnusableStyleError saying so."""
        try:
            tensors = load_tensors(data)
            metadata = _metadata(data)
        except (SafetensorError, ValueError, json.JSONDecodeError) as error:
            raise UnusableStyleError(f"the style file is not a glyphbot style (corrupt safetensors: {error})") from None
        vectors = tensors.get("base")
        colours = [tensors.get(f"palette.{name}") for name in _PALETTE_FIELDS]
        if (
            metadata.get("format") != FILE_FORMAT or vectors is None or vectors.ndim != 2 or not 1 <= vectors.shape[0] <= STYLE_SLOTS
            or any(colour is None or colour.shape != (3,) for colour in colours)
        ):
            raise UnusableStyleError(f"the style file is not a {FILE_FORMAT} file with 1 to {STYLE_SLOTS} base vectors and a palette")
        try:
            steps, loss = int(metadata.get("steps", 0)), float(metadata.get("loss", "nan"))
        except ValueError:
            raise UnusableStyleError("the style file's steps or loss are not numbers; it was not written by glyphbot") from None
        return cls(metadata.get("name", ""), vectors, Palette(*colours), metadata.get("model_hash", ""), steps, loss)

    def check_fits(self, unet: GlyphUNet2DModel) -> None:
        """Refuse a style whose vectors do not fit this model's text encoder (learned for another architecture)."""
        width = unet.text_encoder.transformer.embed_tokens.embedding_dim
        if self.vectors.shape[1] != width:
            raise UnusableStyleError(
                f"style {self.name!r} has {self.vectors.shape[1]}-wide vectors, but this base model's text encoder is "
                f"{width} wide: it was learned for another model; learn it again (`glyphbot style learn`)"
            )


_PALETTE_FIELDS = ("text_mean", "text_std", "background_mean", "background_std")


def _metadata(data: bytes) -> dict[str, str]:
    """The __metadata__ of a safetensors blob (the header is 8 bytes of length, then JSON)."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]).get("__metadata__", {})


def model_hash(unet: GlyphUNet2DModel) -> str:
    """A short fingerprint of a model's weights: a style records which base it was learned on."""
    digest = hashlib.sha256()
    for name, tensor in sorted(unet.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


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
    pictures, maps = pictures.to(device), maps.to(device).expand(-1, unet.config.glyph_channels, -1, -1)
    tokens = tokenizer([example.transcript for example in examples], style_slots=slots).to(device)
    generator = torch.Generator("cpu").manual_seed(seed)
    table = unet.text_encoder.transformer.embed_tokens.weight.detach().float()
    start = table[3:259].mean(dim=0)  # the mean byte: a vector the encoder knows how to read
    vectors = (start[None].repeat(slots, 1) + 0.01 * torch.randn(slots, table.shape[1], generator=generator).to(device)).requires_grad_(True)
    optimiser = torch.optim.Adam([vectors], lr=learning_rate)
    prediction_type = noise_scheduler.config.prediction_type
    average = None
    for step in range(steps):
        chosen = torch.randperm(len(examples), generator=generator)[:batch_size].to(device)
        clean = pictures[chosen]
        noise = torch.randn(clean.shape, generator=generator).to(device)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(chosen),), generator=generator).to(device)
        noisy = noise_scheduler.add_noise(clean, noise, timesteps)
        output = unet(
            noisy, timesteps, tokens.input_ids[chosen], tokens.attention_mask[chosen], tokens.line_ids[chosen],
            glyph=maps[chosen], style_embeds=vectors[None],
        ).sample[:, :3]
        target = clean if prediction_type == "sample" else noise if prediction_type == "epsilon" else noise_scheduler.get_velocity(clean, noise, timesteps)
        loss = F.mse_loss(output.float(), target.float())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        value = loss.item()
        average = value if average is None else 0.95 * average + 0.05 * value
        if progress is not None:
            progress(step + 1, average)
    return StyleTokens(name, vectors.detach().cpu(), palette, model_hash(unet), steps, float(average))
