"""The trials of a sweep: each one's swept values, its name (a directory name) and its validated RunConfig.

Every trial's config is built and checked here, before any training starts.

>>> spec = SweepSpec.from_dict({"preset": "attn-only-1l", "sweep": {"train.lr": [1e-3, 3e-3], "train.seed": [0, 1]}}, name="s")
>>> [t.name for t in expand_trials(spec)]
['lr=0.001,seed=0', 'lr=0.001,seed=1', 'lr=0.003,seed=0', 'lr=0.003,seed=1']
"""

import hashlib
import itertools
import os
import random
import re
from dataclasses import dataclass
from typing import Any

from interp.core.errors import ConfigError
from interp.sweep.spec import SweepSpec
from interp.train.config import RunConfig
from interp.train.presets import run_config

MAX_NAME = 120
RANDOM_ATTEMPTS = 100  # draws per wanted trial before a small random space is reported


@dataclass(frozen=True)
class Trial:
    """One training run of the sweep: `overrides` are its swept fields only; `run` is the full config."""

    name: str
    overrides: tuple[tuple[str, Any], ...]
    run: RunConfig

    @property
    def overrides_dict(self) -> dict[str, Any]:
        return dict(self.overrides)


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def metric_names(run: RunConfig) -> tuple[str, ...]:
    """The keys of the last metrics.jsonl record of a run with this config (see interp.train.loop.train)."""
    names = ["train_loss", "lr"]
    if run.data.corpus != "none":
        names.append("val")
    if run.data.corpus != "none" and run.data.repeated_fraction > 0:
        names.append("val_repeated")
    if run.data.corpus == "none":
        names.append("val_repeated")
    return tuple(names)


def format_value(value: Any) -> str:
    """A value as it appears in a trial name: the shortest exact form, only characters safe in a path."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9._+-]", "-", text)


def trial_name(overrides: dict[str, Any], short: dict[str, str]) -> str:
    """'lr=0.001,d_model=32': the swept fields by short name; hashed when it would be too long for a path."""
    name = ",".join(f"{short[key]}={format_value(value)}" for key, value in overrides.items())
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{name[: MAX_NAME - 11]}-{digest}"
    return name


def short_names(keys: tuple[str, ...]) -> dict[str, str]:
    """The field part of each key (train.lr -> lr), or the whole key where two sections share a field name."""
    fields = [key.partition(".")[2] for key in keys]
    return {key: field if fields.count(field) == 1 else key for key, field in zip(keys, fields)}


def _combinations(spec: SweepSpec) -> list[dict[str, Any]]:
    if spec.method == "grid":
        return [
            {key: value for option in product for key, value in option}
            for product in itertools.product(*(axis.options for axis in spec.axes))
        ]
    rng = random.Random(spec.seed)
    drawn: dict[str, dict[str, Any]] = {}
    for _ in range(RANDOM_ATTEMPTS * spec.n_trials):
        overrides = {key: value for axis in spec.axes for key, value in axis.sample(rng).items()}
        drawn.setdefault(repr(sorted(overrides.items())), overrides)
        if len(drawn) == spec.n_trials:
            return list(drawn.values())
    raise ConfigError(
        f"n_trials = {spec.n_trials} but the random space gave only {len(drawn)} different trials; "
        "lower n_trials, widen the [sweep] choices, or use method = 'grid'"
    )


def expand_trials(spec: SweepSpec, *, cores: int | None = None) -> list[Trial]:
    """Every trial of `spec`, each config validated (a bad one is a ConfigError naming the trial's overrides).

    Unless [fixed] sets train.threads, each trial trains on max(1, cores // parallel) threads."""
    threads = max(1, (cores or available_cores()) // spec.parallel)
    fixed = spec.fixed_overrides
    if "train.threads" not in fixed and "train.threads" not in spec.swept_keys:
        fixed["train.threads"] = threads
    short = short_names(spec.swept_keys)
    trials, seen = [], {}
    for overrides in _combinations(spec):
        name = trial_name(overrides, short)
        shown = ", ".join(f"{key}={value!r}" for key, value in overrides.items())
        if name in seen:
            raise ConfigError(f"trials {seen[name]} and {shown} would share the directory {name!r}; make the values distinct")
        seen[name] = shown
        try:
            run = run_config(spec.preset, config_file=spec.config, overrides={**fixed, **overrides})
        except ConfigError as error:
            raise ConfigError(f"trial {shown}: {error}") from None
        if spec.metric not in metric_names(run):
            raise ConfigError(
                f"trial {shown} does not log metric {spec.metric!r} (it logs {', '.join(metric_names(run))}); "
                "set metric to one of those"
            )
        trials.append(Trial(name=name, overrides=tuple(overrides.items()), run=run))
    return trials
