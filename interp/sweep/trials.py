"""The trials of a sweep: each one's swept values (from the grid, or drawn by an Optuna trial), its name (a
directory name) and its validated RunConfig.

A grid's configs are all built and checked before anything trains; a random or TPE sweep checks each list value and
each range's bounds (a drawn trial that is still invalid fails alone, with its one-line error).

>>> spec = SweepSpec.from_dict({"preset": "attn-only-1l", "sweep": {"train.lr": [1e-3, 3e-3], "train.seed": [0, 1]}}, name="s")
>>> [t.name for t in check_trials(spec)]
['lr=0.001,seed=0', 'lr=0.001,seed=1', 'lr=0.003,seed=0', 'lr=0.003,seed=1']
>>> grid_params(spec, check_trials(spec)[1].overrides_dict)      # the Optuna parameters of one grid point
{'train.lr': 0.001, 'train.seed': 1}
"""

import hashlib
import itertools
import os
import re
from dataclasses import dataclass
from typing import Any

from interp.core.errors import ConfigError
from interp.sweep.spec import Choice, Range, SweepSpec
from interp.train.config import RunConfig
from interp.train.presets import run_config

MAX_NAME = 120


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


def trial_name(overrides: dict[str, Any], short: dict[str, str], number: int | None = None) -> str:
    """'lr=0.001,d_model=32': the swept fields by short name, after the Optuna trial number for drawn trials
    ('0003-lr=0.002246'); hashed when it would be too long for a path."""
    name = ",".join(f"{short[key]}={format_value(value)}" for key, value in overrides.items())
    if number is not None:
        name = f"{number:04d}-{name}"
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{name[: MAX_NAME - 11]}-{digest}"
    return name


def short_names(keys: tuple[str, ...]) -> dict[str, str]:
    """The field part of each key (train.lr -> lr), or the whole key where two sections share a field name."""
    fields = [key.partition(".")[2] for key in keys]
    return {key: field if fields.count(field) == 1 else key for key, field in zip(keys, fields)}


def group_label(option: tuple[tuple[str, Any], ...]) -> str:
    """One option of a group of fields set together, as a categorical value: 'd_model=32,d_head=8'."""
    return ",".join(f"{key.partition('.')[2]}={format_value(value)}" for key, value in option)


def axis_choices(axis: Choice) -> list[Any]:
    """The categorical values of a list entry: the values of a plain field, or the labels of a group's options."""
    if axis.keys == (axis.name,):
        return [option[0][1] for option in axis.options]
    return [group_label(option) for option in axis.options]


def grid_space(spec: SweepSpec) -> dict[str, list[Any]]:
    """The search space of Optuna's GridSampler: each [sweep] entry by name and its categorical values."""
    return {axis.name: axis_choices(axis) for axis in spec.axes}


def grid_params(spec: SweepSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """The Optuna parameters of a grid point (a group by its option's label)."""
    params = {}
    for axis in spec.axes:
        option = tuple((key, overrides[key]) for key in axis.keys)
        params[axis.name] = option[0][1] if axis.keys == (axis.name,) else group_label(option)
    return params


def suggest_overrides(trial: Any, spec: SweepSpec) -> dict[str, Any]:
    """The swept fields of an Optuna trial: its sampler's draws, or the parameters it was enqueued with (a grid
    point, a retried trial). Lists are categorical; ranges float or int, log-scaled for log_uniform."""
    overrides: dict[str, Any] = {}
    for axis in spec.axes:
        if isinstance(axis, Range):
            if axis.integer:
                overrides[axis.name] = trial.suggest_int(axis.name, axis.low, axis.high, log=axis.log)
            else:
                overrides[axis.name] = axis.clip(trial.suggest_float(axis.name, axis.low, axis.high, log=axis.log))
            continue
        choices = axis_choices(axis)
        picked = trial.suggest_categorical(axis.name, choices)
        overrides.update(dict(axis.options[choices.index(picked)]))
    return overrides


def trial_config(spec: SweepSpec, overrides: dict[str, Any], *, cores: int | None = None) -> RunConfig:
    """The validated RunConfig of one trial (a ConfigError naming its overrides when invalid).

    Unless [fixed] sets train.threads, each trial trains on max(1, cores // parallel) threads."""
    fixed = spec.fixed_overrides
    if "train.threads" not in fixed and "train.threads" not in spec.swept_keys:
        fixed["train.threads"] = max(1, (cores or available_cores()) // spec.parallel)
    shown = ", ".join(f"{key}={value!r}" for key, value in overrides.items())
    try:
        run = run_config(spec.preset, config_file=spec.config, overrides={**fixed, **overrides})
    except ConfigError as error:
        raise ConfigError(f"trial {shown}: {error}") from None
    if spec.metric not in metric_names(run):
        raise ConfigError(
            f"trial {shown} does not log metric {spec.metric!r} (it logs {', '.join(metric_names(run))}); "
            "set metric to one of those"
        )
    return run


def _probes(spec: SweepSpec) -> list[dict[str, Any]]:
    """For a drawn sweep: every list value and both bounds of every range, the other entries at their first value."""
    first = {}
    for axis in spec.axes:
        first.update({axis.name: axis.low} if isinstance(axis, Range) else dict(axis.options[0]))
    probes = []
    for axis in spec.axes:
        values = [{axis.name: axis.low}, {axis.name: axis.high}] if isinstance(axis, Range) else [dict(o) for o in axis.options]
        probes += [{**first, **value} for value in values]
    return list({repr(sorted(p.items())): p for p in probes}.values())


def check_trials(spec: SweepSpec, *, cores: int | None = None) -> list[Trial]:
    """Every trial of a grid, each config validated; for random and tpe, the probes of `_probes` are checked and
    no trial is returned (they are drawn as the study runs)."""
    short = short_names(spec.swept_keys)
    if spec.method != "grid":
        for overrides in _probes(spec):
            trial_config(spec, overrides, cores=cores)
        return []
    trials, seen = [], {}
    for product in itertools.product(*(axis.options for axis in spec.axes)):
        overrides = {key: value for option in product for key, value in option}
        name = trial_name(overrides, short)
        shown = ", ".join(f"{key}={value!r}" for key, value in overrides.items())
        if name in seen:
            raise ConfigError(f"trials {seen[name]} and {shown} would share the directory {name!r}; make the values distinct")
        seen[name] = shown
        trials.append(Trial(name=name, overrides=tuple(overrides.items()), run=trial_config(spec, overrides, cores=cores)))
    return trials
