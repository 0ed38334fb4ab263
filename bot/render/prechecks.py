"""What a request can be refused for before any model is loaded.

Loading torch, diffusers and the checkpoints takes seconds; a prompt that is too long, an option out of
range or a transcript that cannot be laid out legibly is known without them. `glyphbot imagine` runs
these checks first, so a refused request answers in about a second. Torch-free on purpose (a test
keeps it so). The renderer's own `check` still runs after loading, for what needs the model: styles,
the photo a box is written into, a meme's picture, tweens.
"""

from __future__ import annotations

from generation.request_parsers import check_prompt
from generation.templates import candidate_layouts
from generation.types import RenderRequest
from storage.types import QueueLimits
from storage.validation import validate_request


def check_before_loading(request: RenderRequest, limits: QueueLimits) -> None:
    """Raise what the request is refused for without the model: storage.errors.InvalidJob for an option,
    generation.request_parsers.PromptError for the text, generation.layout.LayoutError (a PromptError) for
    a transcript no layout can draw legibly."""
    validate_request(request, limits)
    check_prompt(request.prompt)
    if request.negative_prompt:
        check_prompt(request.negative_prompt, 1)
    if request.kind == "imagine" and request.init_image_png is None:
        # A picture changes the layout (a box of a photo, a meme's captions over it): the renderer checks those.
        candidate_layouts([request.prompt], [0], request.layout, request.font, request.align, request.template)
