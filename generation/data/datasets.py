"""Training datasets: endless synthetic text images, and folders of real (image, transcript) pairs.

Both yield `TextImageExample`s with pixels in [-1, 1], a glyph map and a region map in [0, 1]; a super-resolution
run asks for the high resolution and derives its low-resolution input in the training step, so one
dataset serves both stages. Real pictures have no known layout: their glyph map is blank, so they
train the glyph-free mode only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from generation.data.render import render_template_image, render_text_image
from generation.data.text_sampler import TextSampler, TextSamplerConfig
from generation.data.transcripts import TemplateTranscripts
from generation.layout import DEFAULT_FONT_DIRS, LayoutError, find_fonts
from generation.tokenizer import GlyphTokenizer, PromptError


@dataclass
class TextImageExample:
    pixels: torch.Tensor  # (3, size, size) in [-1, 1]
    text: str
    glyph: torch.Tensor  # (1, size, size) in [0, 1]; all zero when the layout is unknown
    region: torch.Tensor | None = None  # (1, size, size) in [0, 1]: the template's non-text regions


# How often each template is drawn when templates are on (the rest of `template_share` goes to cards):
# signs and tweets most, then chats, pages, memes and the rest. Signs were 0.15 until 2026-12-07f and read
# worst: the rules give a sign to most short transcripts (33 of the 73 in the short held-out file).
# From 2026-12-07h chats (0.07) and tweets (0.2) gain, the weakest long templates after 12-07g
# (best of 4: chats 14 %, tweets 25 %), taken from signs, memes, covers, pages and notices.
TEMPLATE_WEIGHTS = {"tweet": 0.22, "chat": 0.12, "meme": 0.1, "sign": 0.27, "poster": 0.07, "cover": 0.05, "page": 0.1, "notice": 0.07}


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class SyntheticTextDataset(IterableDataset):
    """Freshly rendered text images, never repeating; each DataLoader worker draws its own stream."""

    def __init__(
        self,
        size: int,
        text: TextSamplerConfig = TextSamplerConfig(),
        seed: int = 0,
        font_dirs: tuple[str, ...] = DEFAULT_FONT_DIRS,
        grayscale_fraction: float = 0.3,
        excluded: frozenset[str] = frozenset(),
        template_share: float = 0.0,
        max_transcript_bytes: int = 383,
    ) -> None:
        """`template_share` of the pictures are drawn from the templates other than the plain card
        (TEMPLATE_WEIGHTS: long transcripts, scenes); the rest are cards of `text`'s shape."""
        if not 0 <= template_share <= 1:
            raise ValueError(f"template_share must be between 0 and 1, got {template_share}")
        self.template_share = template_share
        self.max_transcript_bytes = max_transcript_bytes  # the tokenizer's limit: longer texts are cut
        self.size = size
        self.text = text
        self.seed = seed
        self.fonts = find_fonts(font_dirs)
        self.grayscale_fraction = grayscale_fraction
        self.excluded = excluded
        TextSampler(text, excluded)  # fail now, in the main process, if the word list is missing

    def __iter__(self) -> Iterator[TextImageExample]:
        worker = get_worker_info()
        rng = random.Random(self.seed * 1_000_003 + (worker.id if worker else 0))
        sampler = TextSampler(self.text, self.excluded)
        transcripts = TemplateTranscripts(sampler, self.excluded)
        templates, weights = list(TEMPLATE_WEIGHTS), list(TEMPLATE_WEIGHTS.values())
        while True:
            if rng.random() < self.template_share:
                template = rng.choices(templates, weights)[0]
                text = transcripts.sample(template, rng, self.max_transcript_bytes)
                try:
                    image, layout = render_template_image(text, template, self.size, rng, self.fonts)
                except LayoutError:
                    continue  # a drawn transcript too long for its template: draw another
            else:
                text = sampler.sample(rng)
                image, layout = render_text_image(text, self.size, rng, self.fonts, grayscale=rng.random() < self.grayscale_fraction)
            yield TextImageExample(
                image_to_tensor(image), text,
                torch.from_numpy(layout.glyph_map(self.size))[None], torch.from_numpy(layout.region_map(self.size))[None],
            )


class FolderTextDataset(Dataset):
    """`name.png` (or .jpg/.webp) beside `name.txt` holding its transcript; for fine-tuning on real images.

    Transcripts the model cannot take (control characters, over the tokenizer's limit) are left out
    when the dataset is built, and counted in `skipped`: one bad file must not stop a run mid-way.
    """

    SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

    def __init__(self, root: str | Path, size: int, tokenizer: GlyphTokenizer | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder {self.root} does not exist")
        self.pairs = sorted(
            (path, path.with_suffix(".txt"))
            for path in self.root.iterdir()
            if path.suffix.lower() in self.SUFFIXES and path.with_suffix(".txt").is_file()
        )
        tokenizer = tokenizer or GlyphTokenizer()
        self.skipped: list[tuple[Path, str]] = []
        usable = []
        for image_path, text_path in self.pairs:
            try:
                tokenizer.encode_one(text_path.read_text(encoding="utf-8").strip())
            except (PromptError, UnicodeDecodeError) as error:
                self.skipped.append((text_path, str(error)))
            else:
                usable.append((image_path, text_path))
        self.pairs = usable
        if not self.pairs:
            raise ValueError(f"no usable image+transcript pairs (e.g. a.png with a.txt) in {self.root}")
        self.size = size

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> TextImageExample:
        image_path, text_path = self.pairs[index]
        with Image.open(image_path) as image:
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            square = image.convert("RGB").crop((left, top, left + side, top + side))
            pixels = image_to_tensor(square.resize((self.size, self.size), Image.Resampling.LANCZOS))
        return TextImageExample(pixels, text_path.read_text(encoding="utf-8").strip(), torch.zeros(1, self.size, self.size))


def collate_examples(examples: list[TextImageExample]) -> dict[str, object]:
    return {
        "pixels": torch.stack([example.pixels for example in examples]),
        "texts": [example.text for example in examples],
        "glyphs": torch.stack([example.glyph for example in examples]),
        "regions": torch.stack([example.region if example.region is not None else torch.zeros_like(example.glyph) for example in examples]),
    }
