"""Two model-free renderers for development, tests and benchmarks: real PNGs and progress, no model.

`TextDrawingRenderer` draws the prompt as text (`worker.renderer = "text"`); `ConstantRenderer` returns one
tiny picture at no cost (`"constant"`, what `glyphbot bench queue` measures the queue with).
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from functools import cache

from generation.request_parsers import png_bytes
from generation.types import Progress, ProgressCallback, RenderedImage, RenderRequest, RenderResult


class TextDrawingRenderer:
    """Draws the prompt as black text on white with PIL: real PNGs, real progress, no model.

    A tween request gets its frames (the first half show `prompt`, the rest `end_prompt`) and an
    animated GIF of them, the chosen image, as the real renderer returns them; a request with a box
    draws the text into that box of the init picture and leaves the rest of it as it was.
    `step_delay_s` makes each reported step take time, so tests can kill or cancel mid-job.
    """

    def __init__(self, step_delay_s: float = 0.0, base_size: int = 64, sr_size: int = 256) -> None:
        self.step_delay_s = step_delay_s
        self.base_size = base_size
        self.sr_size = sr_size

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        seed = request.seed if request.seed is not None else 0
        if request.kind == "tween":
            return self._tween(request, seed, progress)
        base = [self._candidate("base", request.prompt, seed + i, self.base_size) for i in range(request.candidates)]
        self._steps("base", request.num_inference_steps, progress, preview=base[0].png)
        if request.box is not None and request.init_image_png is not None:
            sr = _into_box(request.init_image_png, request.box, request.prompt, seed)
        else:
            sr = self._candidate("sr", request.prompt, seed, self.sr_size)
        self._steps("sr", request.sr_num_inference_steps, progress, preview=None)
        sr.ocr_text, sr.ocr_score, sr.chosen = request.prompt, 1.0, True
        return RenderResult(images=base + [sr])

    def _tween(self, request: RenderRequest, seed: int, progress: ProgressCallback | None) -> RenderResult:
        # Each frame numbered, so no two are alike (a GIF encoder merges equal neighbours).
        frames = [
            self._candidate("frame", f"{request.prompt if 2 * i < request.frames else request.end_prompt}\n{i + 1}/{request.frames}",
                            seed, self.base_size)
            for i in range(request.frames)
        ]
        self._steps("frame", request.frames, progress, preview=frames[0].png)
        return RenderResult(images=[*frames, tween_gif(frames, seed)])

    def _steps(self, stage: str, total: int, progress: ProgressCallback | None, preview: bytes | None) -> None:
        for step in range(1, total + 1):
            if self.step_delay_s:
                time.sleep(self.step_delay_s)
            if progress is not None:
                progress(Progress(stage, step, total, preview if step == total else None))  # type: ignore[arg-type]

    @staticmethod
    def _candidate(stage: str, prompt: str, seed: int, size: int) -> RenderedImage:
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (size, size), "white")
        ImageDraw.Draw(image).multiline_text((2, 2), prompt, fill="black")
        return RenderedImage(stage=stage, seed=seed, png=png_bytes(image), width=size, height=size)  # type: ignore[arg-type]


class ConstantRenderer:
    """Returns one fixed tiny PNG per candidate at no cost: for measuring the queue, not the model.

    It takes batches (at no cost either), so `glyphbot bench queue` measures what batching saves the queue.
    """

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        png = _tiny_png()
        if request.kind == "tween":
            frames = [RenderedImage("frame", 0, png, 1, 1) for _ in range(request.frames)]
            return RenderResult(images=[*frames, tween_gif(frames, 0)])
        images = [RenderedImage("base", i, png, 1, 1) for i in range(request.candidates)]
        images.append(RenderedImage("sr", 0, png, 1, 1, request.prompt, 1.0, True))
        return RenderResult(images=images)

    def render_batch(self, requests: Sequence[RenderRequest], progress: Sequence[ProgressCallback | None]) -> list[RenderResult]:
        return [self.render(request) for request in requests]


@cache
def _tiny_png() -> bytes:
    from PIL import Image

    return png_bytes(Image.new("L", (1, 1), 255))


def tween_gif(frames: Sequence[RenderedImage], seed: int, frame_ms: int = 120) -> RenderedImage:
    """The chosen image of a tween result: an animated GIF of its frames (stage "gif"), looping."""
    from PIL import Image

    pictures = [Image.open(io.BytesIO(frame.png)).convert("RGB") for frame in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
    width, height = pictures[0].size
    return RenderedImage("gif", seed, buffer.getvalue(), width, height, chosen=True)


def _into_box(init_png: bytes, box: tuple[int, int, int, int], text: str, seed: int) -> RenderedImage:
    """The init picture with `text` drawn on white inside `box`; every pixel outside the box unchanged."""
    from PIL import Image, ImageDraw

    picture = Image.open(io.BytesIO(init_png)).convert("RGB")
    x, y, w, h = box
    patch = Image.new("RGB", (w, h), "white")  # drawn apart, so text running long cannot spill out of the box
    ImageDraw.Draw(patch).multiline_text((1, 1), text, fill="black")
    picture.paste(patch, (x, y))
    return RenderedImage("sr", seed, png_bytes(picture), picture.width, picture.height)
