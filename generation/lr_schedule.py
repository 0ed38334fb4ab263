"""Learning-rate schedules for runs that end on a clock, not on a step count.

A CPU run lasts as long as a session allows (`--max-minutes`), so its step count is unknown when it
starts and a step-based cosine cannot be laid out in advance. `RunProgress` measures how far the run
is through whichever budget ends first (its steps or its minutes), and the cosine schedule decays
the learning rate over that fraction. The run then ends on a low learning rate, where the weights
settle, instead of on the noisy plateau of a constant one; the next session warms up again from the
exported weights (a warm restart, as in SGDR).
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch

LR_SCHEDULES = ("constant", "cosine")
# Where the cosine ends, as a share of the peak rate: low enough for the weights to settle, not zero,
# so the last minutes of a run still learn something.
COSINE_FLOOR = 0.1


class RunProgress:
    """The share (0..1) of this run's budget spent: steps this run against steps allowed, and wall
    time against `max_minutes` when the run has one. The larger share wins."""

    def __init__(self, start_step: int, total_steps: int, max_minutes: float | None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.start_step = start_step
        self.steps_allowed = max(total_steps - start_step, 1)
        self.budget_s = max_minutes * 60 if max_minutes else math.inf
        self.clock = clock
        self.started = clock()
        self.step = start_step

    def restart_clock(self) -> None:
        """Count wall time from now: the run's set-up (data, resume) is not training time."""
        self.started = self.clock()

    def out_of_time(self) -> bool:
        """Whether the run has used its `max_minutes` (never, without one)."""
        return self.clock() - self.started > self.budget_s

    def fraction(self) -> float:
        by_steps = (self.step - self.start_step) / self.steps_allowed
        by_time = (self.clock() - self.started) / self.budget_s
        return min(max(by_steps, by_time, 0.0), 1.0)


def lr_multiplier(schedule: str, warmup_steps: int, steps_this_run: int, progress: float) -> float:
    """Linear warm-up over the run's first steps, then constant or cosine down to COSINE_FLOOR."""
    warm = min(1.0, (steps_this_run + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if schedule == "constant":
        return warm
    if schedule == "cosine":
        return warm * (COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)))
    raise ValueError(f"lr schedule must be one of {LR_SCHEDULES}, got {schedule!r}")


def wall_clock_schedule(optimizer: torch.optim.Optimizer, schedule: str, warmup_steps: int, progress: RunProgress) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR whose factor follows `progress`; the trainer advances `progress.step` each step."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda _: lr_multiplier(schedule, warmup_steps, progress.step - progress.start_step, progress.fraction()),
    )
