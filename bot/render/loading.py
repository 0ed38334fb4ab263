"""The renderer a worker starts with, by name (`worker.renderer`, `glyphbot worker --renderer`).

Each name is a function that imports its renderer only when called, so adapters and the CLI never load
torch by importing this module, and a host that renders without a model never loads it at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from generation.types import Renderer

if TYPE_CHECKING:
    from config.settings import Settings


class RendererUnavailable(RuntimeError):
    """The configured renderer cannot start; the message says what to do."""


def _cascade(settings: Settings | None) -> Renderer:
    from bot.render.cascade import CascadeRenderer
    from config.settings import load_settings

    return CascadeRenderer.from_settings(settings or load_settings())


def _text(_settings: Settings | None) -> Renderer:
    from bot.render.model_free import TextDrawingRenderer

    return TextDrawingRenderer()


def _constant(_settings: Settings | None) -> Renderer:
    from bot.render.model_free import ConstantRenderer

    return ConstantRenderer()


# The trained cascade reranked by OCR; the prompt drawn as text; one tiny picture at no cost.
RENDERERS: dict[str, Callable[[Any], Renderer]] = {"cascade": _cascade, "text": _text, "constant": _constant}


def load_renderer(name: str, settings: Settings | None = None) -> Renderer:
    """Start the renderer called `name` (one of RENDERERS) with `settings`; RendererUnavailable saying why not."""
    start = RENDERERS.get(name)
    if start is None:
        raise RendererUnavailable(f"worker.renderer {name!r} is not one of {', '.join(RENDERERS)}")
    try:
        return start(settings)
    except Exception as error:
        # The cascade's start-up errors, matched by name so this module stays free of torch: without
        # them a worker would start, claim jobs and fail each one for a reason that concerns none.
        if type(error).__name__ == "CheckpointMissingError":
            raise RendererUnavailable(
                f"no trained checkpoint to render with: {error}. Train one (`glyphbot train`) or set "
                "generation.checkpoint_dir; for a model-free worker use worker.renderer = 'text'"
            ) from error
        if type(error).__name__ == "DeviceUnavailableError":
            raise RendererUnavailable(f"cannot start renderer {name!r}: {error} (setting generation.device)") from error
        raise
