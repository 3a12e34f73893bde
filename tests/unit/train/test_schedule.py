import pytest
from hypothesis import given
from hypothesis import strategies as st

from interp.train.config import TrainConfig
from interp.train.schedule import checkpoint_steps, learning_rate, log_spaced_steps


@given(total=st.integers(1, 10**6), count=st.integers(2, 60))
def test_log_spaced_steps_are_strictly_increasing_from_zero_to_total(total, count):
    steps = log_spaced_steps(total, count)
    assert steps[0] == 0 and steps[-1] == total
    assert all(a < b for a, b in zip(steps, steps[1:]))
    assert len(steps) == min(count, total + 1)


def test_log_spacing_puts_most_checkpoints_early():
    steps = log_spaced_steps(6000, 24)
    assert sum(s < 600 for s in steps) > sum(s >= 600 for s in steps)


def test_warmup_then_cosine_reaches_the_floor():
    cfg = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    assert learning_rate(cfg, 0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 9) == pytest.approx(1e-3)
    assert learning_rate(cfg, 10) == pytest.approx(1e-3)
    assert learning_rate(cfg, 100) == pytest.approx(1e-4)
    values = [learning_rate(cfg, s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert learning_rate(TrainConfig(steps=100), 50) == 1e-3


def test_even_checkpoints_are_added_to_the_log_spaced_ones():
    steps = checkpoint_steps(TrainConfig(steps=1000, n_checkpoints=6, checkpoint_every=250))
    assert steps == [0, 1, 6, 32, 178, 250, 500, 750, 1000]
    assert checkpoint_steps(TrainConfig(steps=1000, n_checkpoints=6)) == log_spaced_steps(1000, 6)


def test_wsd_is_constant_then_decays_linearly_over_the_last_steps():
    cfg = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, schedule="wsd", decay_steps=40, min_lr_ratio=0.0)
    assert learning_rate(cfg, 0) == pytest.approx(1e-4) and learning_rate(cfg, 59) == learning_rate(cfg, 60) == 1e-3
    assert learning_rate(cfg, 80) == pytest.approx(5e-4) and learning_rate(cfg, 99) == pytest.approx(1e-3 / 40)
    values = [learning_rate(cfg, s) for s in range(60, 100)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert [learning_rate(cfg, s) for s in range(60)] == [
        learning_rate(TrainConfig(steps=100, lr=1e-3, warmup_steps=10), s) for s in range(60)
    ]
