"""Settings of the OCR stage and the pruning rule of the original tumblr autoresponder model's rejection sampling.

`OcrSettings` is a plain dataclass so that config/ can map an `[ocr]` TOML section onto it field by
field; the reader is built from it with `OcrSettings.reader()`.

The pruning rule, as the original ran it: after OCR of the base candidates,

- if the best score reaches `keep_only_if_above`, keep exactly the candidates that reach it;
- otherwise keep those that reach `delete_under` (when set);
- and if that leaves nothing, keep everything, because super-resolving a poor candidate still beats
  returning no image.

Defaults are the original's later settings: `keep_only_if_above` 0.8 (it moved between 0.7 and 0.9
after starting at 0.95) and `delete_under` off (it was 0.1 early on).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence, TypeVar

from ocr.reader import Reader

T = TypeVar("T")


def _default_workers() -> int:
    return min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class OcrSettings:
    keep_only_if_above: float = 0.8
    delete_under: float | None = None
    min_line_confidence: float = 65.0
    min_block_confidence: float = 30.0
    corner_margin: float = 0.05
    parallel_workers: int = field(default_factory=_default_workers)

    @classmethod
    def from_config(cls, section: dict) -> "OcrSettings":
        """From the `[ocr]` settings (a dict of them): 0 parallel workers there means "one per core",
        this class's own default."""
        values = dict(section)
        if not values.get("parallel_workers"):
            values.pop("parallel_workers", None)
        return cls(**values)

    def __post_init__(self) -> None:
        if not 0 <= self.keep_only_if_above <= 1:
            raise ValueError(f"keep_only_if_above must be in [0, 1], got {self.keep_only_if_above}")
        if self.delete_under is not None and not 0 <= self.delete_under <= self.keep_only_if_above:
            raise ValueError(
                f"delete_under must be in [0, keep_only_if_above={self.keep_only_if_above}] or None, got {self.delete_under}"
            )
        # The reader checks its own fields; building one here reports bad values when settings load.
        self.reader()

    def reader(self) -> Reader:
        return Reader(
            min_line_confidence=self.min_line_confidence,
            min_block_confidence=self.min_block_confidence,
            corner_margin=self.corner_margin,
            workers=self.parallel_workers,
        )


def select_survivors(scores: Sequence[float], settings: OcrSettings) -> list[int]:
    """Indices of the base candidates that go on to super-resolution (see the module docstring)."""
    if not scores:
        raise ValueError("there are no candidates to select from")
    if max(scores) >= settings.keep_only_if_above:
        return [i for i, score in enumerate(scores) if score >= settings.keep_only_if_above]
    if settings.delete_under is not None:
        kept = [i for i, score in enumerate(scores) if score >= settings.delete_under]
        if kept:
            return kept
    return list(range(len(scores)))


def tile(items: Sequence[T], count: int) -> list[T]:
    """Repeat `items` in order until there are `count` of them (the survivors fill the SR batch)."""
    if not items:
        raise ValueError("cannot tile an empty list")
    if count < 1:
        raise ValueError(f"the batch size must be at least 1, got {count}")
    return [items[i % len(items)] for i in range(count)]
