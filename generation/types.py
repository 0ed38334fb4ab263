"""Plain data that crosses the boundary between generation, OCR reranking, storage and adapters.

Kept free of torch and PIL on purpose: storage and the chat adapters import these types and must
not pull the model stack in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol

Stage = Literal["base", "sr"]
# How a candidate is laid out: "glyph" draws its glyph map from its seed (the default), "none" draws
# without one (seed 003's glyph-free mode). Alignments a user may pin (generation.layout).
LAYOUT_MODES = ("glyph", "none")
ALIGNMENTS = ("left", "center", "right")


@dataclass(frozen=True)
class RenderRequest:
    """Everything a worker needs to turn one prompt into images; mirrors a job row's parameters."""

    prompt: str
    negative_prompt: str = ""
    guidance_scale: float = 2.0
    sr_guidance_scale: float = 1.0
    num_inference_steps: int = 20
    sr_num_inference_steps: int = 10
    scheduler: str = "dpmsolver"
    seed: int | None = None
    candidates: int = 4
    init_image_png: bytes | None = None
    strength: float = 0.75
    layout: str = "glyph"
    font: str | None = None  # a font name (`glyphbot fonts`); None: each candidate's seed picks one
    align: str | None = None  # left, center or right; None: each candidate's seed picks


@dataclass
class RenderedImage:
    """One candidate of one stage, as stored for moderators: every candidate is kept, not only the winner."""

    stage: Stage
    seed: int
    png: bytes
    width: int
    height: int
    ocr_text: str | None = None
    ocr_score: float | None = None
    chosen: bool = False


@dataclass
class RenderResult:
    """The outcome of one request: all candidates of both stages, exactly one of them chosen."""

    images: list[RenderedImage] = field(default_factory=list)

    @property
    def winner(self) -> RenderedImage:
        for image in self.images:
            if image.chosen:
                return image
        raise LookupError("no image of this result is marked as chosen")


@dataclass(frozen=True)
class Progress:
    """A progress report: `stage` is running at `step` of `total_steps`; `preview_png` when a stage ends."""

    stage: Stage
    step: int
    total_steps: int
    preview_png: bytes | None = None


ProgressCallback = Callable[[Progress], None]


class Renderer(Protocol):
    """What the worker calls. The real one runs the cascade with OCR reranking; tests use fast doubles."""

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult: ...
