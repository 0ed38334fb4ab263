"""Font-drawn stand-ins for the diffusion model: candidates whose text is known, some misspelled on purpose."""

from __future__ import annotations

from typing import Callable

from PIL import Image

from generation.types import ProgressCallback, RenderRequest, RenderResult
from ocr.fontrender import render_text
from ocr.policy import OcrSettings
from ocr.reader import Reader
from ocr.rerank import Candidate, rejection_sample


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


class FontRenderer:
    """A `generation.types.Renderer` whose candidate with seed s draws `draw(prompt, s)`, base stage only.

    It runs the real rejection sampling and reader, so a benchmark over it measures the policy itself.
    """

    def __init__(self, draw: Callable[[str, int], str], reader: Reader) -> None:
        self.draw = draw
        self.reader = reader
        self.requests: list[RenderRequest] = []

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        self.requests.append(request)
        seed = request.seed or 0
        model = FontModel([self.draw(request.prompt, seed + j) for j in range(request.candidates)])
        settings = OcrSettings(parallel_workers=2)
        return rejection_sample(request.prompt, request.candidates, model.make_base, None, self.reader, settings).to_render_result()


def _draw(text: str, size: int) -> Image.Image:
    return render_text(text, size, max_font_px=size // 7)
