"""Plain data that crosses the boundary between generation, OCR reranking, storage and adapters.

Kept free of torch and PIL on purpose: storage and the chat adapters import these types and must
not pull the model stack in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol

# "frame" and "gif" are a tween job's pictures: every frame (PNG) and the animation made of them.
Stage = Literal["base", "sr", "frame", "gif"]
# How a candidate is laid out: "glyph" draws its glyph map from its seed (the default), "none" draws
# without one (the glyph-free mode of the original tumblr autoresponder model). Alignments a user may
# pin (generation.layout).
LAYOUT_MODES = ("glyph", "none")
ALIGNMENTS = ("left", "center", "right")
# The kinds of picture a transcript can be drawn as (generation.templates): "card" is plain text on a
# surface; the others are the things people screenshot or photograph. None lets rules read the
# transcript's shape and pick one (generation.templates.rules).
TEMPLATES = ("card", "tweet", "chat", "meme", "sign", "poster", "cover", "page", "notice")
# One line per template, for `glyphbot templates` and the adapters' help (a test keeps it equal to TEMPLATES).
TEMPLATE_DESCRIPTIONS = {
    "card": "plain text on a plain surface",
    "tweet": "a social media post: name, handle and the text",
    "chat": "a chat conversation: lines as message bubbles",
    "meme": "a picture with a top and a bottom caption",
    "sign": "a sign on a wall or a post",
    "poster": "a poster with a large headline",
    "cover": "a book or magazine cover: title and author",
    "page": "a page of printed text",
    "notice": "a notice pinned up: a heading and its text",
}
# What a job draws: "imagine" (candidates reranked by OCR) or "tween" (frames from `prompt` to
# `end_prompt` with the noise held fixed, and an animated GIF of them).
JOB_KINDS = ("imagine", "tween")
# Where in a user's own photo the text goes when no exact box is given (see `box_for_place`).
BOX_PLACES = ("top", "center", "bottom")
MIN_TWEEN_FRAMES, MAX_TWEEN_FRAMES = 2, 48
MIN_STYLE_EXAMPLES, MAX_STYLE_EXAMPLES = 3, 20  # pictures a style is learned from (generation.styles, storage.styles)
# How a style was learned: textual inversion's token vectors, or LoRA adapters (storage.styles keeps which).
STYLE_METHODS = ("vectors", "lora")
MAX_STYLE_STRENGTH = 1.0
Box = tuple[int, int, int, int]  # x, y, width, height in the picture's own pixels


def box_for_place(width: int, height: int, place: str) -> Box:
    """The band of a width x height picture that a "where" word stands for: the full width, a third
    of the height (at the top, in the middle or at the bottom), inset by 4 % on every side."""
    if place not in BOX_PLACES:
        raise ValueError(f"place must be one of {', '.join(BOX_PLACES)}, got {place!r}")
    band = height // 3
    top = {"top": 0, "center": (height - band) // 2, "bottom": height - band}[place]
    inset_x, inset_y = max(1, width * 4 // 100), max(1, band * 4 // 100)
    return (inset_x, top + inset_y, width - 2 * inset_x, band - 2 * inset_y)


@dataclass(frozen=True)
class RenderRequest:
    """Everything a worker needs to turn one prompt into images; mirrors a job row's parameters."""

    prompt: str
    negative_prompt: str = ""
    guidance_scale: float = 3.0
    sr_guidance_scale: float = 2.0
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
    template: str | None = None  # one of TEMPLATES; None: rules read the transcript and pick one
    # A learned style (`glyphbot style learn`): its name, and its token embeddings (safetensors bytes,
    # generation.styles) that the worker fetches from the style store just before rendering.
    style: str | None = None
    style_tokens: bytes | None = None
    # A reference picture whose palette and texture the result should take on, and how strongly (0..1].
    style_image_png: bytes | None = None
    style_strength: float = 0.5
    # With `init_image_png`: write the text into this box of that picture and keep every pixel
    # outside it (instead of an img2img start from the whole picture).
    box: Box | None = None
    kind: str = "imagine"
    end_prompt: str = ""  # tween: the last frame's text (`prompt` is the first's)
    frames: int = 12  # tween: how many frames, both ends included


def tween_conflicts(request: RenderRequest) -> str | None:
    """Why a tween request cannot be made as asked, or None: a tween morphs one text into another from
    fixed noise, so options that only fit a single picture are refused by name, not silently dropped.
    Kept here, free of torch, so storage refuses at submission what the renderer would refuse."""
    given = [name for name, present in (
        ("picture (--image)", request.init_image_png is not None), ("box", request.box is not None),
        ("style", request.style is not None or request.style_tokens is not None),
        ("reference picture (--style-image)", request.style_image_png is not None),
        ("negative prompt", bool(request.negative_prompt)), ("glyph-free layout", request.layout != "glyph"),
        ("template", request.template is not None),
    ) if present]
    if request.kind != "tween" or not given:
        return None
    return f"a tween takes no {', '.join(given)}: it morphs one text into the other from fixed noise"


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
