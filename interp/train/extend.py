"""Resuming a run with a changed budget or schedule, when that is exactly a longer run.

A resumed run must equal an uninterrupted one. Changing `train.steps` (and the schedule's decay) keeps that
promise when every step already taken would have had the same learning rate under the new config: batches are a
pure function of (seed, step), so the continued run is the run the new config trains from the start. Typical
uses: a constant-rate run trained for longer, or given a final decay ("wsd") after its last checkpoint.

>>> from interp.train.presets import run_config
>>> old = run_config("attn-only-1l", overrides={"train.steps": 100})
>>> new = run_config("attn-only-1l", overrides={"train.steps": 150, "train.schedule": "wsd", "train.decay_steps": 50})
>>> continues(old, new, done=100), continues(old, new, done=120)
(True, False)
"""

from pathlib import Path

from interp.core.errors import ConfigError
from interp.train.config import RunConfig
from interp.train.schedule import learning_rate

# train.compile changes how the forward runs, not what it computes (to float rounding), like the device does.
CHANGEABLE = ("train.steps", "train.schedule", "train.decay_steps", "train.min_lr_ratio", "train.compile")


def changed_fields(old: RunConfig, new: RunConfig) -> list[str]:
    """`section.field` names whose values differ."""
    a, b = old.to_dict(), new.to_dict()
    return [f"{section}.{name}" for section in a for name in a[section] if a[section][name] != b[section].get(name)]


def continues(old: RunConfig, new: RunConfig, done: int) -> bool:
    """Whether `new`, resumed after `done` steps of `old`, is exactly the run `new` trains from the start."""
    return (
        set(changed_fields(old, new)) <= set(CHANGEABLE)
        and new.train.steps >= done
        and all(learning_rate(old.train, step) == learning_rate(new.train, step) for step in range(done))
    )


def check_continuation(old: RunConfig, new: RunConfig, done: int, run_dir: Path) -> None:
    """A one-line ConfigError unless resuming `old` (trained for `done` steps) as `new` is exact."""
    if continues(old, new, done):
        return
    changed = changed_fields(old, new)
    if not set(changed) <= set(CHANGEABLE):
        raise ConfigError(
            f"{run_dir} was trained with a different config ({', '.join(changed)} changed); resume without changing it "
            "(only train.steps, the learning-rate decay and train.compile may change), or use a new --out"
        )
    if new.train.steps < done:
        raise ConfigError(f"{run_dir} has trained {done} steps already; train.steps = {new.train.steps} would end before that")
    raise ConfigError(
        f"{run_dir}: the new {', '.join(changed)} would change the learning rate of steps already taken (before step {done}), "
        "so the result would not be the run the config describes; a decay may only start after the last checkpoint: train a new run"
    )
