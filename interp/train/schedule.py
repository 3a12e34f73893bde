"""Learning-rate schedules and log-spaced checkpoint steps.

>>> log_spaced_steps(1000, 6)
[0, 1, 6, 32, 178, 1000]
"""

import math

import numpy as np

from interp.train.config import TrainConfig


def log_spaced_steps(total: int, count: int) -> list[int]:
    """`count` checkpoint steps from 0 (the initialisation) to `total`, spaced evenly in log(step).

    Early training changes fastest, so log spacing puts most checkpoints where circuits form. Where rounding
    makes two steps equal, the next free step is used, so exactly `min(count, total + 1)` steps come back.
    """
    if total < 1 or count < 2:
        raise ValueError(f"need total >= 1 and count >= 2, got total={total}, count={count}")
    count = min(count, total + 1)
    raw = np.geomspace(1, total, count - 1)
    steps = [0]
    for value in raw:
        step = max(int(round(value)), steps[-1] + 1)
        steps.append(step)
    # Collisions pushed early steps upward; pull the tail back so the last step is exactly `total`.
    for i in range(len(steps) - 1, 0, -1):
        limit = total if i == len(steps) - 1 else steps[i + 1] - 1
        steps[i] = min(steps[i], limit)
    steps[-1] = total
    return steps


def checkpoint_steps(cfg: TrainConfig) -> list[int]:
    """The steps a run saves: log-spaced ones, plus every `checkpoint_every` steps if set."""
    steps = set(log_spaced_steps(cfg.steps, cfg.n_checkpoints))
    if cfg.checkpoint_every:
        steps.update(range(cfg.checkpoint_every, cfg.steps + 1, cfg.checkpoint_every))
    return sorted(steps)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warmup over `warmup_steps`, then constant, cosine decay to `min_lr_ratio * lr`, or ("wsd") constant
    until the last `decay_steps` steps, which decay linearly to `min_lr_ratio * lr`."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "wsd":
        decay_start = cfg.steps - cfg.decay_steps  # from here the rate falls by (lr - floor) / decay_steps a step
        return cfg.lr - (cfg.lr - floor) * min(1.0, max(0, step - decay_start) / cfg.decay_steps)
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
