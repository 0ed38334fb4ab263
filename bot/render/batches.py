"""Rendering a claimed batch with out-of-memory fallback: smaller job batches, then fewer candidates at once.

A CUDA out-of-memory error is recognised by its class name (torch.cuda.OutOfMemoryError,
torch.OutOfMemoryError) or its message, so this module works, and is tested, without torch.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from generation.types import ProgressCallback, RenderedImage, RenderRequest, RenderResult, Renderer

log = logging.getLogger(__name__)

OOM_CLASS_NAMES = {"OutOfMemoryError"}
# What torch says when a GPU allocator gives up without its own class: CUDA in older wrappers, Apple's MPS.
OOM_MESSAGES = ("CUDA out of memory", "MPS backend out of memory")


@runtime_checkable
class BatchRenderer(Protocol):
    """A renderer that can put several compatible requests into one GPU batch (one callback per request)."""

    def render_batch(
        self, requests: Sequence[RenderRequest], progress: Sequence[ProgressCallback | None]
    ) -> list[RenderResult]: ...


class OutOfMemory(Exception):
    """Even the smallest retry ran out of GPU memory; the message says what was tried."""


def is_out_of_memory(error: BaseException) -> bool:
    """True for GPU OOM (CUDA or MPS) however it was wrapped (the pipeline may re-raise it from its own error)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in OOM_CLASS_NAMES or any(message in str(current) for message in OOM_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def render_jobs(
    renderer: Renderer, requests: Sequence[RenderRequest], progress: Sequence[ProgressCallback | None]
) -> list[RenderResult | Exception]:
    """One result (or the exception that ended it) per request, in order.

    A batch that runs out of memory is split in halves; a single request that does is rendered in
    halves of its candidates (same per-candidate seeds, winner = best OCR score); a single candidate
    that does fails with OutOfMemory. Other exceptions end only their own request.
    """
    if len(requests) > 1 and isinstance(renderer, BatchRenderer):
        try:
            return list(renderer.render_batch(requests, progress))
        except Exception as error:  # noqa: BLE001  split on OOM, else retry one by one to isolate the culprit
            if is_out_of_memory(error):
                log.warning("out of GPU memory with a batch of %d jobs; splitting it", len(requests))
                _free_gpu_memory(renderer)
            middle = len(requests) // 2 if is_out_of_memory(error) else 1
            return render_jobs(renderer, requests[:middle], progress[:middle]) + render_jobs(
                renderer, requests[middle:], progress[middle:]
            )
    results: list[RenderResult | Exception] = []
    for request, callback in zip(requests, progress, strict=True):
        try:
            results.append(_render_one(renderer, request, callback))
        except Exception as error:  # noqa: BLE001  reported per job by the worker
            results.append(error)
    return results


def _render_one(renderer: Renderer, request: RenderRequest, progress: ProgressCallback | None) -> RenderResult:
    try:
        return renderer.render(request, progress)
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        _free_gpu_memory(renderer)
        if request.candidates <= 1:
            raise OutOfMemory(
                "out of GPU memory even for one candidate at a time; the model does not fit this GPU "
                "(try fewer inference steps, or a GPU with more memory)"
            ) from error
        log.warning("out of GPU memory with %d candidates; rendering them in two halves", request.candidates)
        first = request.candidates // 2
        second_seed = None if request.seed is None else request.seed + first
        halves = [
            _render_one(renderer, replace(request, candidates=first), progress),
            _render_one(renderer, replace(request, candidates=request.candidates - first, seed=second_seed), progress),
        ]
        return merge_results(halves)


def merge_results(results: Sequence[RenderResult]) -> RenderResult:
    """All images of several partial results; the chosen one is the best-scoring of their winners."""
    winners = [result.winner for result in results]
    best = max(winners, key=lambda image: image.ocr_score if image.ocr_score is not None else float("-inf"))
    images: list[RenderedImage] = []
    for result in results:
        images += [replace(image, chosen=image is best) for image in result.images]
    return RenderResult(images=images)


def _free_gpu_memory(renderer: Renderer) -> None:
    """Let the renderer drop cached blocks before a retry; fall back to torch's cache if torch is loaded."""
    release = getattr(renderer, "free_memory", None)
    if callable(release):
        release()
        return
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
