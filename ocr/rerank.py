"""The original tumblr autoresponder model's rejection sampling, independent of any model: sample, read, prune, super-resolve, read, pick.

The model enters only through two callables, so this module is tested with font-drawn stand-ins and
the pipeline can change without touching it:

- `make_base(n) -> list[Candidate]`: n base-stage candidates (stage "base"), each with its seed;
- `super_resolve(inputs) -> list[Candidate]`: one SR candidate (stage "sr") per input, in order. The
  inputs are base candidates tiled to fill the SR batch, so one base candidate can appear several
  times: give every slot its own SR seed (the cascade uses `generation.pipeline.sr_seeds`), or the copies come out
  identical. Pass `super_resolve=None` for a base-only model; the best base candidate then wins.

Every candidate's OCR text and score is returned, for storage to keep. An empty (text-less) transcript
skips OCR entirely: all base candidates survive and the first SR output is chosen.

`bot/render/cascade.py` (`CascadeRenderer`) is the glue to `generation.pipeline.GlyphCascadePipeline`:
its `make_base` calls `generate_base` with seeds `seed + i`, its `super_resolve` calls `upscale` with
`sr_seeds(...)` of the surviving candidates' slots, and `rejection_sample(...).to_render_result()` gives
the job's every candidate with the winner chosen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol, Sequence, runtime_checkable

from PIL import Image

from generation.request_parsers import png_bytes
from generation.types import RenderedImage, RenderResult
from ocr.policy import OcrSettings, select_survivors, tile
from ocr.reader import Reading
from ocr.scoring import fold_whitespace, trigram_similarity

if TYPE_CHECKING:
    from generation.layout import Quad

Stage = Literal["base", "sr"]


class BatchReader(Protocol):
    """What rejection sampling needs from a reader (`ocr.reader.Reader` is one)."""

    def read_many(self, sources: Sequence[Image.Image]) -> list[Reading]: ...


@runtime_checkable
class QuadReader(BatchReader, Protocol):
    """A reader that can also read a picture block by block, where its layout put the text."""

    def read_in_quads(self, items: Sequence[tuple[Image.Image, Sequence[Quad]]]) -> list[Reading]: ...


@dataclass(frozen=True)
class Candidate:
    """One image from the model. `payload` is opaque here: e.g. the base tensor the SR stage reuses.

    `text_quads`, when the layout is known, says where each text block is (reading order); a reader
    that can (`QuadReader`) then reads block by block instead of the whole picture."""

    image: Image.Image
    seed: int
    stage: Stage
    payload: Any = None
    text_quads: tuple[Quad, ...] | None = None


@dataclass(frozen=True)
class ScoredCandidate:
    """A candidate with its reading; `text` and `score` are None when OCR was skipped (empty transcript).

    `source` is, for an SR candidate, the index of the base candidate it was made from.
    """

    candidate: Candidate
    text: str | None
    score: float | None
    source: int | None = None


@dataclass(frozen=True)
class Ranking:
    """Everything rejection sampling did: all candidates of both stages, which survived, and the winner."""

    transcript: str
    base: tuple[ScoredCandidate, ...]
    survivors: tuple[int, ...]
    sr: tuple[ScoredCandidate, ...]
    best: ScoredCandidate
    ocr_seconds: float

    @property
    def final_stage(self) -> tuple[ScoredCandidate, ...]:
        return self.sr or self.base

    def ranked(self) -> list[ScoredCandidate]:
        """The final stage's candidates best first (stable: ties keep generation order)."""
        return sorted(self.final_stage, key=lambda c: -(c.score if c.score is not None else 0.0))

    def to_render_result(self) -> RenderResult:
        """The storage/worker view: every candidate as PNG with its OCR text and score, the winner chosen."""
        images = []
        for scored in (*self.base, *self.sr):
            image = scored.candidate.image
            images.append(
                RenderedImage(
                    stage=scored.candidate.stage, seed=scored.candidate.seed, png=png_bytes(image),
                    width=image.width, height=image.height, ocr_text=scored.text, ocr_score=scored.score,
                    chosen=scored is self.best,
                )
            )
        return RenderResult(images)


class CandidateCountError(ValueError):
    """A model callable returned a different number of candidates than it was asked for."""


def _score(transcript: str, candidates: Sequence[Candidate], reader: BatchReader) -> list[tuple[str, float]]:
    """Each candidate's reading and its trigram score. Line breaks are folded into spaces on both sides:
    a long transcript is word-wrapped to the picture, so where a line breaks is the layout's choice."""
    if isinstance(reader, QuadReader) and all(c.text_quads for c in candidates):
        readings = reader.read_in_quads([(c.image, c.text_quads) for c in candidates])
    else:
        readings = reader.read_many([c.image for c in candidates])
    folded = fold_whitespace(transcript)
    return [(r.text, trigram_similarity(folded, fold_whitespace(r.text))) for r in readings]


def _check_count(what: str, got: list[Candidate], wanted: int) -> None:
    if len(got) != wanted:
        raise CandidateCountError(f"{what} returned {len(got)} candidates, expected {wanted}")


def rejection_sample(
    transcript: str,
    n_candidates: int,
    make_base: Callable[[int], list[Candidate]],
    super_resolve: Callable[[list[Candidate]], list[Candidate]] | None,
    reader: BatchReader,
    settings: OcrSettings,
    sr_batch: int | None = None,
) -> Ranking:
    """Run the policy; `sr_batch` defaults to `n_candidates` (the original filled the same batch size)."""
    if n_candidates < 1:
        raise ValueError(f"n_candidates must be at least 1, got {n_candidates}")
    sr_batch = sr_batch or n_candidates
    read_text = bool(transcript.strip())
    ocr_seconds = 0.0

    base_candidates = make_base(n_candidates)
    _check_count("make_base", base_candidates, n_candidates)
    if read_text:
        started = time.perf_counter()
        base_scores = _score(transcript, base_candidates, reader)
        ocr_seconds += time.perf_counter() - started
        base = tuple(ScoredCandidate(c, text, score) for c, (text, score) in zip(base_candidates, base_scores))
        survivors = select_survivors([score for _, score in base_scores], settings)
    else:
        base = tuple(ScoredCandidate(c, None, None) for c in base_candidates)
        survivors = list(range(n_candidates))

    if super_resolve is None:
        return Ranking(transcript, base, tuple(survivors), (), _best([base[i] for i in survivors]), ocr_seconds)

    # Best survivors first, so when the batch is not a multiple of their number the best get the extra slots.
    order = sorted(survivors, key=lambda i: -(base[i].score or 0.0))
    sources = tile(order, sr_batch)
    sr_candidates = super_resolve([base_candidates[i] for i in sources])
    _check_count("super_resolve", sr_candidates, sr_batch)
    if read_text:
        started = time.perf_counter()
        sr_scores: list[tuple[str | None, float | None]] = list(_score(transcript, sr_candidates, reader))
        ocr_seconds += time.perf_counter() - started
    else:
        sr_scores = [(None, None)] * sr_batch
    sr = tuple(
        ScoredCandidate(c, text, score, source) for c, (text, score), source in zip(sr_candidates, sr_scores, sources)
    )
    return Ranking(transcript, base, tuple(survivors), sr, _best(list(sr)), ocr_seconds)


def _best(candidates: list[ScoredCandidate]) -> ScoredCandidate:
    """Highest score; the earliest on ties (and the first when nothing was scored)."""
    return max(candidates, key=lambda c: c.score if c.score is not None else 0.0)
