"""Tiny models built in the tests: fast on a CPU, same code paths as the shipped sizes.

Registered for the whole suite by tests/conftest.py (`pytest_plugins`): the generation tests and the
renderer's (tests/bot/render) use these fixtures. torch and the model code are imported inside the
functions, so a run that builds no model does not spend seconds loading them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from generation.pipeline import GlyphCascadePipeline
    from generation.unet import GlyphUNet2DModel

CONFIGS = Path(__file__).resolve().parents[2] / "generation" / "configs"


def tiny_config(name: str) -> dict:
    return json.loads((CONFIGS / f"{name}.json").read_text())


def _weave_output(name: str) -> bool:
    return "weaves" in name and ("to_out" in name or "text_feed_forward.3" in name)


def wake(model: GlyphUNet2DModel, seed: int) -> GlyphUNet2DModel:
    """Give the zero-initialised parts (output conv, AdaGN modulation, weave output projections) random values.

    A fresh model predicts exactly zero and ignores the text by design; tests that compare outputs
    need a model whose every path contributes.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("conv_out") or "modulation" in name or _weave_output(name):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model.eval()


@pytest.fixture
def tiny_base() -> GlyphUNet2DModel:
    import torch

    from generation.unet import GlyphUNet2DModel

    torch.manual_seed(0)
    return wake(GlyphUNet2DModel(**tiny_config("tiny-base")), 1)


@pytest.fixture
def tiny_sr() -> GlyphUNet2DModel:
    import torch

    from generation.unet import GlyphUNet2DModel

    torch.manual_seed(1)
    return wake(GlyphUNet2DModel(**tiny_config("tiny-sr")), 2)


@pytest.fixture
def tiny_pipe(tiny_base, tiny_sr) -> GlyphCascadePipeline:
    from generation.pipeline import GlyphCascadePipeline
    from generation.schedulers import training_scheduler

    pipe = GlyphCascadePipeline(tiny_base, training_scheduler(), tiny_sr, training_scheduler())
    pipe.set_progress_bar_config(disable=True)
    return pipe
