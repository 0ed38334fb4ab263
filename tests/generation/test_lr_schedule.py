"""The wall-clock learning-rate schedule: warm-up, then constant or a cosine over the run's budget."""

import pytest
import torch

from generation.lr_schedule import COSINE_FLOOR, RunProgress, lr_multiplier, wall_clock_schedule
from generation.train import TrainingConfig


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cosine_follows_the_wall_clock_when_minutes_end_first() -> None:
    clock = FakeClock()
    progress = RunProgress(start_step=5000, total_steps=1_000_000, max_minutes=10, clock=clock)
    progress.step = 5500
    assert progress.fraction() == pytest.approx(500 / 995_000)  # steps: 500 of the 995,000 this run may take
    clock.now += 300
    assert progress.fraction() == pytest.approx(0.5)
    assert lr_multiplier("cosine", 100, 500, progress.fraction()) == pytest.approx(COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5)
    clock.now += 10_000
    assert progress.fraction() == 1.0
    assert lr_multiplier("cosine", 100, 500, progress.fraction()) == pytest.approx(COSINE_FLOOR)


def test_a_run_is_out_of_time_only_past_its_minutes() -> None:
    clock = FakeClock()
    timed = RunProgress(start_step=0, total_steps=10, max_minutes=2, clock=clock)
    untimed = RunProgress(start_step=0, total_steps=10, max_minutes=None, clock=clock)
    clock.now += 120
    assert not timed.out_of_time()
    clock.now += 1
    assert timed.out_of_time() and not untimed.out_of_time()


def test_cosine_follows_the_steps_when_they_end_first() -> None:
    progress = RunProgress(start_step=0, total_steps=200, max_minutes=None, clock=FakeClock())
    progress.step = 50
    assert progress.fraction() == pytest.approx(0.25)


def test_restarting_the_clock_leaves_set_up_time_out() -> None:
    clock = FakeClock()
    progress = RunProgress(start_step=0, total_steps=1_000_000, max_minutes=1, clock=clock)
    clock.now += 45
    progress.restart_clock()
    assert progress.fraction() == 0.0


def test_warm_up_then_constant() -> None:
    assert lr_multiplier("constant", 100, 0, 0.0) == pytest.approx(0.01)
    assert lr_multiplier("constant", 100, 49, 0.9) == pytest.approx(0.5)
    assert lr_multiplier("constant", 100, 5000, 0.9) == 1.0
    assert lr_multiplier("cosine", 0, 0, 0.0) == 1.0


def test_the_optimiser_rate_follows_progress() -> None:
    clock = FakeClock()
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    progress = RunProgress(start_step=0, total_steps=1_000_000, max_minutes=1, clock=clock)
    schedule = wall_clock_schedule(optimizer, "cosine", 0, progress)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1.0)
    clock.now += 60
    progress.step = 1
    optimizer.step()
    schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(COSINE_FLOOR)


def test_an_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainingConfig(stage="base", model={}, output_dir="/tmp/unused", lr_schedule="linear")
    with pytest.raises(ValueError, match="must be one of"):
        lr_multiplier("step", 0, 0, 0.0)
