"""Finding and loading the checkpoints shipped in the repository.

The product runs on `generation/checkpoints/{base,sr}`, each a `save_pretrained` folder with a
`training.json` written by `glyphbot train`. A folder without `training.json` is not a trained
model, so it is never loaded as the product: random weights would draw noise and call it an image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEFAULT_CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


class CheckpointMissingError(RuntimeError):
    """No trained checkpoint where one was expected; the message says what to do."""


@dataclass(frozen=True)
class ShippedCheckpoints:
    base: Path
    sr: Path | None

    def training_info(self) -> dict[str, dict]:
        info = {"base": json.loads((self.base / "training.json").read_text())}
        if self.sr is not None:
            info["sr"] = json.loads((self.sr / "training.json").read_text())
        return info


def _is_trained(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "training.json").is_file() and any(folder.glob("*.safetensors"))


def locate_checkpoints(checkpoint_dir: str | Path | None = None) -> ShippedCheckpoints:
    root = Path(checkpoint_dir) if checkpoint_dir else DEFAULT_CHECKPOINT_DIR
    base = root / "base"
    if not _is_trained(base):
        raise CheckpointMissingError(
            f"no trained base checkpoint in {base}: this build of glyphbot ships no trained weights yet "
            "(they need a GPU run: see generation/TRAINING.md). Point --checkpoint-dir or "
            "GLYPHBOT_GENERATION__CHECKPOINT_DIR at a folder with base/ (and sr/) from `glyphbot train`."
        )
    sr = root / "sr"
    return ShippedCheckpoints(base, sr if _is_trained(sr) else None)


class DeviceUnavailableError(RuntimeError):
    """The requested device does not exist on this machine."""


def resolve_device(device: str) -> "torch.device":
    """'auto' picks CUDA when present; asking for a missing GPU is an error, not a silent fallback.
    (torch is imported here: locating checkpoints is the first check a command makes, before it decides
    to load anything.)"""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind = device.split(":", 1)[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(f"device {device!r} requested but torch sees no CUDA GPU; use --device cpu or auto")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise DeviceUnavailableError("device 'mps' requested but this machine has no Apple GPU; use --device cpu or auto")
    return torch.device(device)
