"""Font-drawn stand-ins for the diffusion model: candidates whose text is known, some misspelled on purpose."""

from __future__ import annotations

from PIL import Image

from ocr.fontrender import render_text
from ocr.rerank import Candidate


class FontModel:
    """`make_base` draws `base_texts[i]` at 128 px; `super_resolve` redraws each input's text at 256 px.

    `sr_texts` maps an SR slot to a different text, to model an SR stage that garbles a good base image.
    The drawn text travels in `payload`, as a real pipeline would carry its low-res tensor.
    """

    def __init__(self, base_texts: list[str], sr_texts: dict[int, str] | None = None) -> None:
        self.base_texts = base_texts
        self.sr_texts = sr_texts or {}
        self.sr_inputs: list[Candidate] = []

    def make_base(self, n: int) -> list[Candidate]:
        return [Candidate(_draw(text, 128), seed=i, stage="base", payload=text) for i, text in enumerate(self.base_texts[:n])]

    def super_resolve(self, inputs: list[Candidate]) -> list[Candidate]:
        self.sr_inputs = list(inputs)
        texts = [self.sr_texts.get(slot, c.payload) for slot, c in enumerate(inputs)]
        return [Candidate(_draw(text, 256), seed=1000 + slot, stage="sr", payload=text) for slot, text in enumerate(texts)]


def _draw(text: str, size: int) -> Image.Image:
    return render_text(text, size, max_font_px=size // 7)
