"""How fast the synthetic data renders (`glyphbot bench data`): will the CPU keep a GPU fed?

Rendering runs in DataLoader worker processes during training. The benchmark measures one process
rendering in a loop (the baseline) and a DataLoader with N workers, at each resolution, so a GPU
host's operator can compare the samples/s the data side delivers with what the training step eats.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import islice

from torch.utils.data import DataLoader

from generation.data.datasets import SyntheticTextDataset, collate_examples
from generation.data.text_sampler import TextSamplerConfig


@dataclass(frozen=True)
class DataRate:
    size: int
    workers: int  # 0: rendered in this process
    samples_per_s: float


def measure_data_rate(size: int, workers: int, samples: int, text: TextSamplerConfig, batch_size: int = 32) -> DataRate:
    """Samples/s after a warm-up batch (worker start-up and font loading are not counted)."""
    dataset = SyntheticTextDataset(size, text, seed=size + workers)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_examples)
    batches = iter(loader)
    next(batches)
    wanted = max(1, samples // batch_size)
    started = time.perf_counter()
    seen = sum(len(batch["texts"]) for batch in islice(batches, wanted))
    return DataRate(size, workers, seen / (time.perf_counter() - started))
