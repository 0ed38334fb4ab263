"""Edits of the predicted clean image at every sampling step: how sampling is steered without training.

glyphbot's models predict the clean picture (x0) at every step, and every sampler builds its next
step from that prediction. Changing the prediction is therefore the one place where a goal that the
model was never trained on can steer any sampler:

* `ColourGuidance` moves the letters' and the background's colours towards a reference picture's
  (`imagine --style-image`);
* `KeepRegion` replaces the prediction outside a box with the user's own picture, so the model draws
  only inside the box and what it draws fits what surrounds it (`imagine --image --box`);
* `BoxGround` gives the ground inside that box the photo's own colours there, and the letters a
  colour that stands out from them, so the text looks written onto the photo, not onto a card.

Models that predict noise or velocity are converted to x0 and back around the edits.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch

from generation.colour import Palette, transfer_colours


class CleanEdit(Protocol):
    """Changes the predicted clean images (batch, 3, H, W) in [-1, 1]; `done` is the share of steps already taken."""

    def __call__(self, clean: torch.Tensor, done: float) -> torch.Tensor: ...


class ColourGuidance:
    """Pull each candidate's letters (its glyph map) and background towards a palette: a reference
    picture's (`--style-image`) or a learned style's examples'.

    `strength` 1 gives the reference's colour statistics at every step; less mixes them with the
    model's own prediction. Applied at every step, a small strength still adds up."""

    def __init__(self, reference: Palette, text_masks: torch.Tensor, strength: float) -> None:
        self.reference = reference
        self.text_masks = text_masks
        self.strength = strength

    def __call__(self, clean: torch.Tensor, done: float) -> torch.Tensor:
        masks = self.text_masks.to(clean.device, torch.float32)
        target = transfer_colours(clean, masks, self.reference)
        return clean + self.strength * (target - clean)


class BoxGround:
    """Text written onto a photo, not onto a card: inside the box (left, top, right, bottom, pixels at
    the stage's size), the ground between the letters is pulled towards the photo's own pixels there
    (its colours and texture), and the letters' colour, not their shapes, towards `ink`, chosen to
    stand out from that ground. The letters themselves stay the model's; outside the box is
    `KeepRegion`'s."""

    def __init__(self, photo: torch.Tensor, ink: Palette, text_masks: torch.Tensor, box: tuple[int, int, int, int], strength: float) -> None:
        self.photo = photo  # (1, 3, bottom - top, right - left): the photo under the box
        self.ink = ink
        self.text_masks = text_masks
        self.box = box
        self.strength = strength

    def __call__(self, clean: torch.Tensor, done: float) -> torch.Tensor:
        left, top, right, bottom = self.box
        inside = clean[..., top:bottom, left:right].float()
        letters = self.text_masks.to(clean.device, torch.float32)[..., top:bottom, left:right]
        inked = transfer_colours(inside, letters, self.ink).float()
        letters = letters.unsqueeze(1)
        target = letters * inked + (1 - letters) * self.photo.to(clean.device, torch.float32)
        result = clean.clone()
        result[..., top:bottom, left:right] = (inside + self.strength * (target - inside)).to(clean.dtype)
        return result


class KeepRegion:
    """Keep the known pixels where `keep` (batch or 1, 1, H, W) is 1, let the model draw where it is 0."""

    def __init__(self, known: torch.Tensor, keep: torch.Tensor) -> None:
        self.known = known
        self.keep = keep

    def __call__(self, clean: torch.Tensor, done: float) -> torch.Tensor:
        keep = self.keep.to(clean.device, clean.dtype)
        return keep * self.known.to(clean.device, clean.dtype) + (1 - keep) * clean


def apply_clean_edits(
    edits: Sequence[CleanEdit],
    output: torch.Tensor,
    sample: torch.Tensor,
    alpha_cumprod: torch.Tensor,
    prediction_type: str,
    done: float,
) -> torch.Tensor:
    """Run `edits` on a model output of `prediction_type` ("sample", "epsilon" or "v_prediction") at a
    step whose noisy sample is `sample` and whose cumulative alpha is `alpha_cumprod`; returns an output
    of the same type. Extra channels (learned variances) pass through untouched."""
    if not edits:
        return output
    prediction, rest = output[:, : sample.shape[1]], output[:, sample.shape[1] :]
    signal, noise = alpha_cumprod.sqrt().to(sample.dtype), (1 - alpha_cumprod).sqrt().to(sample.dtype)
    if prediction_type == "sample":
        clean = prediction
    elif prediction_type == "epsilon":
        clean = (sample - noise * prediction) / signal
    elif prediction_type == "v_prediction":
        clean = signal * sample - noise * prediction
    else:
        raise ValueError(f"cannot edit the output of a model that predicts {prediction_type!r}")
    for edit in edits:
        clean = edit(clean, done)
    if prediction_type == "sample":
        prediction = clean
    elif prediction_type == "epsilon":
        prediction = (sample - signal * clean) / noise.clamp_min(1e-6)
    else:
        prediction = (signal * sample - clean) / noise.clamp_min(1e-6)
    return torch.cat([prediction, rest], dim=1)
