"""A sweep spec: a base preset, fixed overrides and the swept fields, read from TOML and validated.

Field names are the `section.field` names of `interp train --set`. A swept field takes a list of values (grid, or a
categorical choice for random and tpe), a `{ log_uniform = [low, high] }` / `{ uniform = [low, high] }` range
(random and tpe only; integer bounds draw integers), or — under a name without a dot — a list of tables of fields
that are set together. interp.sweep.study maps it onto an Optuna study (sampler, pruner, storage):

    preset = "attn-only-1l"
    method = "grid"
    metric = "val_repeated"

    [fixed]
    "train.steps" = 300

    [sweep]
    "train.lr" = [1e-3, 3e-3]
    width = [{ "model.d_model" = 32, "model.d_head" = 8 }, { "model.d_model" = 64, "model.d_head" = 16 }]

>>> spec = SweepSpec.from_dict({"preset": "attn-only-1l", "sweep": {"train.lr": [1e-3, 3e-3]}}, name="lr")
>>> spec.method, spec.axes[0].keys, spec.out
('grid', ('train.lr',), PosixPath('models/runs/sweeps/lr'))
"""

import dataclasses
import hashlib
import json
import math
import re
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from interp.core.errors import ConfigError
from interp.sweep.pruning import PrunerSpec, parse_pruner
from interp.train.config import RunConfig
from interp.train.presets import preset as load_preset
from interp.train.presets import read_toml

METHODS = ("grid", "random", "tpe")  # Optuna's GridSampler, RandomSampler(seed), TPESampler(seed)
SAMPLED = ("random", "tpe")  # methods that draw n_trials trials with a seed
GOALS = ("min", "max")
DISTRIBUTIONS = ("log_uniform", "uniform")
DEFAULT_OUT = Path("models/runs/sweeps")
SIGNIFICANT_DIGITS = 4  # drawn floats are rounded so that a trial's name states its value exactly
DEFAULT_HEARTBEAT = 10.0  # seconds between a running trial's heartbeats; a trial silent for 3 of them is taken over
TOP_LEVEL = (
    "name", "preset", "config", "method", "n_trials", "seed", "parallel", "metric", "goal", "out", "storage",
    "pruner", "heartbeat", "wandb", "wandb_project", "fixed", "sweep",
)  # fmt: skip


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def config_sections() -> dict[str, type]:
    """The sections of a RunConfig (model, data, train, ...) and their dataclasses."""
    hints = typing.get_type_hints(RunConfig)
    return {f.name: hints[f.name] for f in fields(RunConfig) if dataclasses.is_dataclass(hints[f.name])}


def check_field_key(key: str, where: str) -> None:
    """`key` names a config field as `section.field` (what `interp train --set` takes)."""
    section, dot, name = key.partition(".")
    sections = config_sections()
    _require(
        bool(dot) and section in sections,
        f"{where}: {key!r} must be section.field with section {', '.join(sections)} (e.g. train.lr)",
    )
    valid = sorted(f.name for f in fields(sections[section]))
    _require(name in valid, f"{where}: {key!r} is not a config field; {section} fields: {', '.join(valid)}")


def _is_distribution(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= set(DISTRIBUTIONS)


def flatten(table: dict[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": x}} -> {"train.lr": x}: TOML writes unquoted dotted keys as nested tables."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and not _is_distribution(value):
            flat.update(flatten(value, where, prefix=f"{full}."))
        else:
            _require(full not in flat, f"{where}: {full!r} is given twice")
            flat[full] = value
    return flat


@dataclass(frozen=True)
class Choice:
    """A swept field, or a named group of fields set together, and the options it takes.

    Each option is the (field, value) pairs it sets: one pair for a plain field, several for a group."""

    name: str
    options: tuple[tuple[tuple[str, Any], ...], ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key for option in self.options for key, _ in option))


@dataclass(frozen=True)
class Range:
    """A numeric field drawn uniformly or log-uniformly from [low, high]; integers when both bounds are."""

    name: str
    low: int | float
    high: int | float
    log: bool

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def integer(self) -> bool:
        return _is_int(self.low) and _is_int(self.high)

    def clip(self, draw: float) -> int | float:
        """A drawn value as the trial uses it: integers as they are, floats to SIGNIFICANT_DIGITS, within bounds."""
        if self.integer:
            return int(draw)
        return min(max(float(f"{draw:.{SIGNIFICANT_DIGITS}g}"), float(self.low)), float(self.high))


Axis = Choice | Range


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, bool, int, float)) and not (isinstance(value, float) and not math.isfinite(value))


def parse_axis(key: str, value: Any, method: str) -> Axis:
    """One entry of [sweep]: a list of values, a list of tables (a group), or a range (random and tpe only)."""
    where = f"[sweep] {key}"
    if _is_distribution(value):
        _require(
            method in SAMPLED,
            f"{where}: ranges ({{log_uniform = [a, b]}}) are for method = 'random' or 'tpe'; a grid needs a list of values",
        )
        check_field_key(key, "[sweep]")
        _require(len(value) == 1, f"{where}: give one of {', '.join(DISTRIBUTIONS)}, not several")
        ((kind, bounds),) = value.items()
        _require(
            isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds),
            f"{where}: {kind} needs two finite numbers [low, high], got {bounds!r}",
        )
        low, high = bounds
        _require(low < high, f"{where}: {kind} needs low < high, got [{low}, {high}]")
        _require(kind != "log_uniform" or low > 0, f"{where}: log_uniform needs low > 0, got {low}")
        integer = _is_int(low) and _is_int(high)
        _require(not integer or kind != "log_uniform" or low >= 1, f"{where}: an integer log_uniform range needs low >= 1")
        return Range(name=key, low=low, high=high, log=kind == "log_uniform")
    _require(
        isinstance(value, list) and len(value) > 0,
        f"{where}: give a non-empty list of values, e.g. [1e-3, 3e-3]"
        + (", or a range {log_uniform = [1e-4, 1e-2]}" if method in SAMPLED else ""),
    )
    if all(isinstance(v, dict) for v in value):  # a group of fields set together
        _require(
            "." not in key,
            f"{where}: a list of tables is a group of fields set together; name it without a dot (e.g. width = [...])",
        )
        options = []
        for index, table in enumerate(value):
            option = flatten(table, f"{where} option {index + 1}")
            _require(bool(option), f"{where} option {index + 1} is an empty table")
            for field_key, field_value in option.items():
                check_field_key(field_key, f"{where} option {index + 1}")
                _require(
                    _scalar(field_value), f"{where} option {index + 1}: {field_key} must be a single value, got {field_value!r}"
                )
            options.append(tuple(option.items()))
        return Choice(name=key, options=tuple(options))
    check_field_key(key, "[sweep]")
    for item in value:
        _require(_scalar(item), f"{where}: every value must be a number, string or boolean (or all tables), got {item!r}")
    _require(len(set(map(repr, value))) == len(value), f"{where}: a value is listed twice in {value!r}")
    return Choice(name=key, options=tuple(((key, item),) for item in value))


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """What to sweep and how; `from_toml` / `from_dict` parse and check it, `__post_init__` checks the values."""

    name: str
    preset: str | None = None
    config: Path | None = None
    fixed: tuple[tuple[str, Any], ...] = ()
    method: str = "grid"
    axes: tuple[Axis, ...] = ()
    n_trials: int | None = None
    seed: int | None = None
    parallel: int = 1
    metric: str = "val"
    goal: str = "min"
    out: Path = DEFAULT_OUT
    storage: str | None = None  # an Optuna storage URL, or journal:PATH; None: sqlite:///OUT/study.db
    pruner: PrunerSpec = PrunerSpec()
    heartbeat: float = DEFAULT_HEARTBEAT
    wandb: bool = False
    wandb_project: str | None = None

    def __post_init__(self) -> None:
        _require(
            isinstance(self.name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.name) is not None,
            f"name must be letters, digits, '.', '_' or '-' (it names the sweep directory), got {self.name!r}",
        )
        _require(self.preset is not None or self.config is not None, "give preset = NAME (see `interp presets`) or config = FILE")
        _require(self.method in METHODS, f"method must be one of {METHODS}, got {self.method!r}")
        _require(bool(self.axes), '[sweep] is empty: name at least one field to sweep, e.g. "train.lr" = [1e-3, 3e-3]')
        if self.method in SAMPLED:
            _require(
                _is_int(self.n_trials) and self.n_trials > 0,
                f"n_trials must be a positive integer for method = '{self.method}', got {self.n_trials!r}",
            )
            _require(
                _is_int(self.seed) and self.seed >= 0,
                f"seed must be an integer >= 0 for method = '{self.method}', got {self.seed!r}",
            )
        else:
            _require(self.n_trials is None, "n_trials is for method = 'random' or 'tpe'; a grid runs every combination")
            _require(
                self.seed is None,
                "seed is for method = 'random' or 'tpe' (its draws); seed the training with train.seed in [fixed] or [sweep]",
            )
        _require(
            self.storage is None
            or (isinstance(self.storage, str) and ("://" in self.storage or self.storage.startswith("journal:"))),
            f"storage must be an Optuna storage URL (sqlite:///PATH) or journal:PATH, got {self.storage!r}",
        )
        _require(
            _is_number(self.heartbeat) and self.heartbeat > 0,
            f"heartbeat must be a positive number of seconds, got {self.heartbeat!r}",
        )
        _require(_is_int(self.parallel) and self.parallel > 0, f"parallel must be a positive integer, got {self.parallel!r}")
        _require(
            isinstance(self.metric, str) and bool(self.metric),
            f"metric must be a metrics.jsonl key such as 'val', got {self.metric!r}",
        )
        _require(self.goal in GOALS, f"goal must be one of {GOALS}, got {self.goal!r}")
        _require(isinstance(self.wandb, bool), f"wandb must be true or false, got {self.wandb!r}")
        _require(
            self.wandb_project is None or (isinstance(self.wandb_project, str) and bool(self.wandb_project)),
            f"wandb_project must be a non-empty string, got {self.wandb_project!r}",
        )
        swept = [key for axis in self.axes for key in axis.keys]
        twice = sorted({key for key in swept if swept.count(key) > 1})
        _require(not twice, f"[sweep]: {', '.join(twice)} swept by more than one entry; sweep each field once")
        both = sorted(set(swept) & set(dict(self.fixed)))
        _require(not both, f"{', '.join(both)}: in both [fixed] and [sweep]; keep each field in one of them")

    @property
    def fixed_overrides(self) -> dict[str, Any]:
        return dict(self.fixed)

    @property
    def swept_keys(self) -> tuple[str, ...]:
        return tuple(key for axis in self.axes for key in axis.keys)

    @property
    def project(self) -> str:
        """The wandb project name."""
        return self.wandb_project or f"interp-sweep-{self.name}"

    def with_options(
        self, *, parallel: int | None = None, wandb: bool | None = None, out: Path | None = None, storage: str | None = None
    ) -> "SweepSpec":
        """This spec with command-line options applied (None leaves a field as it is)."""
        changes = {"parallel": parallel, "wandb": wandb, "out": out, "storage": storage}
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None and v is not False})

    def identity(self) -> dict[str, Any]:
        """What makes the trials of this sweep what they are (not where or how many at once they run): its hash
        is stored with the Optuna study, and a spec with another one is refused on that study."""
        config_text = None if self.config is None else Path(self.config).read_text(encoding="utf-8")
        data = self.to_dict()
        keep = ("preset", "fixed", "method", "sweep", "n_trials", "seed", "metric", "goal", "pruner")
        return {**{key: data[key] for key in keep}, "config_text": config_text}

    @property
    def spec_hash(self) -> str:
        """sha256 of `identity()` as canonical JSON."""
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (results.json; `from_dict(to_dict())` gives it back, as a worker process does)."""
        return {
            "name": self.name,
            "preset": self.preset,
            "config": None if self.config is None else str(self.config),
            "fixed": dict(self.fixed),
            "method": self.method,
            "sweep": {axis.name: _axis_to_data(axis) for axis in self.axes},
            "n_trials": self.n_trials,
            "seed": self.seed,
            "parallel": self.parallel,
            "metric": self.metric,
            "goal": self.goal,
            "out": str(self.out),
            "storage": self.storage,
            "pruner": self.pruner.to_dict(),
            "heartbeat": self.heartbeat,
            "wandb": self.wandb,
            "wandb_project": self.wandb_project,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, name: str, base_dir: Path = Path(".")) -> "SweepSpec":
        """Parse a spec's TOML content; `name` is the default sweep name, `base_dir` resolves `config`."""
        _require(isinstance(data, dict), "a sweep spec must be a TOML table")
        unknown = sorted(set(data) - set(TOP_LEVEL))
        _require(not unknown, f"unknown sweep spec key(s) {', '.join(unknown)}; valid: {', '.join(TOP_LEVEL)}")
        for key in ("name", "preset", "config", "method", "metric", "goal", "out", "storage", "wandb_project"):
            _require(key not in data or isinstance(data[key], str), f"{key} must be a string, got {data.get(key)!r}")
        method = data.get("method", "grid")
        fixed_table, sweep_table = data.get("fixed", {}), data.get("sweep", {})
        _require(isinstance(fixed_table, dict), "[fixed] must be a table of section.field = value")
        _require(isinstance(sweep_table, dict), "[sweep] must be a table of section.field = [values]")
        fixed = flatten(fixed_table, "[fixed]")
        for key, value in fixed.items():
            check_field_key(key, "[fixed]")
            _require(not isinstance(value, list), f"[fixed] {key}: a list sweeps a field; move it to [sweep]")
        _require(isinstance(method, str) and method in METHODS, f"method must be one of {METHODS}, got {method!r}")
        axes = tuple(parse_axis(key, value, method) for key, value in _sweep_entries(sweep_table))
        sweep_name = data.get("name", name)
        config = data.get("config")
        if data.get("preset") is not None:
            load_preset(data["preset"])  # an unknown preset is an error here, naming the spec file
        if config is not None:
            read_toml(Path(base_dir) / config)
        return cls(
            name=sweep_name,
            preset=data.get("preset"),
            config=None if config is None else Path(base_dir) / config,
            fixed=tuple(fixed.items()),
            method=method,
            axes=axes,
            n_trials=data.get("n_trials"),
            seed=data.get("seed"),
            parallel=data.get("parallel", 1),
            metric=data.get("metric", "val"),
            goal=data.get("goal", "min"),
            out=Path(data["out"]) if "out" in data else DEFAULT_OUT / sweep_name,
            storage=data.get("storage"),
            pruner=parse_pruner(data.get("pruner")),
            heartbeat=data.get("heartbeat", DEFAULT_HEARTBEAT),
            wandb=data.get("wandb", False),
            wandb_project=data.get("wandb_project"),
        )

    @classmethod
    def from_toml(cls, path: Path) -> "SweepSpec":
        """Read a spec file; the sweep is named after the file unless it sets `name`."""
        path = Path(path)
        try:
            return cls.from_dict(read_toml(path), name=path.stem, base_dir=path.parent)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None


def _sweep_entries(table: dict[str, Any]) -> list[tuple[str, Any]]:
    """[sweep] entries; unquoted dotted keys (train.lr = [...]) arrive as nested tables and are joined again."""
    entries = []
    for key, value in table.items():
        if isinstance(value, dict) and not _is_distribution(value):
            entries += [(f"{key}.{inner}", v) for inner, v in _sweep_entries(value)]
        else:
            entries.append((key, value))
    return entries


def _axis_to_data(axis: Axis) -> Any:
    if isinstance(axis, Range):
        return {("log_uniform" if axis.log else "uniform"): [axis.low, axis.high]}
    if axis.keys == (axis.name,):
        return [option[0][1] for option in axis.options]
    return [dict(option) for option in axis.options]
