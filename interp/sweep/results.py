"""Gather a sweep's trials into one table (results.csv, results.json) and the series its figures plot.

Numbers come from each trial's own files: the last record of metrics.jsonl (the final metrics) and trial.json
(status, error, tokens/s, wall time), so the table always agrees with the run directories.

>>> import tempfile
>>> from interp.sweep.spec import SweepSpec
>>> from interp.sweep.trials import expand_trials
>>> tiny = {"model.d_model": 16, "model.n_heads": 2, "model.d_head": 8, "model.n_ctx": 16, "data.corpus": "none",
...     "data.repeated_fraction": 1.0, "data.span_min": 2, "data.span_max": 4, "train.steps": 10, "train.batch_size": 4,
...     "train.eval_every": 5, "train.n_checkpoints": 3, "train.checkpoint_every": 0}
>>> spec = SweepSpec.from_dict({"preset": "attn-only-1l", "fixed": tiny, "sweep": {"train.lr": [3e-3, 1e-3]},
...     "metric": "val_repeated", "out": tempfile.mkdtemp()}, name="lr")
>>> results = collect_results(spec, expand_trials(spec))       # before the sweep ran
>>> [(row["trial"], row["status"]) for row in results.rows()]
[('lr=0.003', 'not run'), ('lr=0.001', 'not run')]
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.core.io import read_json, write_csv, write_json
from interp.sweep.spec import Range, SweepSpec
from interp.sweep.trials import Trial, format_value
from interp.train.loop import read_metrics

FORMAT = "interp.sweep"
VERSION = 1
TRIALS_DIR = "trials"
TRIAL_FILE = "trial.json"  # the outcome of a trial's last attempt, written by interp.sweep.runner


def trial_dir(spec: SweepSpec, trial: Trial) -> Path:
    return Path(spec.out) / TRIALS_DIR / trial.name


def read_outcome(run_dir: Path) -> dict[str, Any] | None:
    """The trial.json of a run directory, or None when there is none (or a torn one)."""
    path = Path(run_dir) / TRIAL_FILE
    try:
        return read_json(path)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_outcome(run_dir: Path, outcome: dict[str, Any]) -> None:
    write_json(Path(run_dir) / TRIAL_FILE, outcome)


@dataclass(frozen=True)
class TrialResult:
    """One trial as the table shows it. `final` is the last metrics.jsonl record; `curve` all of them."""

    name: str
    overrides: dict[str, Any]
    status: str  # done, failed or not run
    error: str
    final: dict[str, Any]
    curve: list[dict[str, Any]]
    tokens_per_second: float | None
    wall_seconds: float | None
    run_dir: Path

    def score(self, metric: str) -> float | None:
        value = self.final.get(metric)
        if self.status != "done" or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return float(value)


@dataclass(frozen=True)
class AxisSeries:
    """The ranking metric against one swept entry: a line per combination of the other entries' values."""

    axis: str
    numeric: bool
    log_x: bool
    lines: list[tuple[str, list[tuple[Any, float, str]]]]  # (other values' label, [(x, metric, trial name)])
    ticks: tuple[Any, ...] = ()  # the listed values of a numeric list-of-values entry (none for ranges)


@dataclass(frozen=True)
class SweepResults:
    spec: SweepSpec
    trials: list[TrialResult]

    @property
    def metric(self) -> str:
        return self.spec.metric

    def ranked(self) -> list[TrialResult]:
        """Trials best first by the metric (spec.goal); failed and unfinished ones last, in trial order."""
        scored = [t for t in self.trials if t.score(self.metric) is not None]
        sign = 1 if self.spec.goal == "min" else -1
        scored.sort(key=lambda t: sign * t.score(self.metric))
        return scored + [t for t in self.trials if t.score(self.metric) is None]

    @property
    def best(self) -> TrialResult | None:
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0].score(self.metric) is not None else None

    def rows(self) -> list[dict[str, Any]]:
        """One row per trial, best first: rank, name, swept fields, status, final metrics, speed, error."""
        keys = self.spec.swept_keys
        rows = []
        for rank, trial in enumerate(self.ranked(), start=1):
            ranked = trial.score(self.metric) is not None
            rows.append(
                {
                    "rank": rank if ranked else "",
                    "trial": trial.name,
                    **{key: trial.overrides.get(key, "") for key in keys},
                    "status": trial.status,
                    **trial.final,
                    "tokens_per_second": trial.tokens_per_second,
                    "wall_seconds": trial.wall_seconds,
                    "error": trial.error,
                    "run_dir": str(trial.run_dir),
                }
            )
        return rows

    def axis_series(self) -> list[AxisSeries]:
        """For each swept entry of the spec: the metric against its values, one line per setting of the others."""
        out = []
        for axis in self.spec.axes:
            others = [a for a in self.spec.axes if a is not axis]
            lines: dict[str, list[tuple[Any, float, str]]] = {}
            for trial in self.trials:
                score = trial.score(self.metric)
                if score is None:
                    continue
                label = ", ".join(f"{a.name}={_axis_value(a.keys, trial.overrides)}" for a in others) or axis.name
                lines.setdefault(label, []).append((_axis_value(axis.keys, trial.overrides), score, trial.name))
            xs = [x for points in lines.values() for x, _, _ in points]
            numeric = bool(xs) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
            log_x = numeric and all(x > 0 for x in xs) and (isinstance(axis, Range) and axis.log or _spans_decade(xs))
            if numeric:
                for points in lines.values():
                    points.sort(key=lambda point: point[0])
            if all(len(points) == 1 for points in lines.values()):  # random search: one cloud of points
                lines = {"trials": [point for points in lines.values() for point in points]}
                if numeric:
                    lines["trials"].sort(key=lambda point: point[0])
            ticks = tuple(sorted({x for x in xs})) if numeric and not isinstance(axis, Range) else ()
            out.append(AxisSeries(axis=axis.name, numeric=numeric, log_x=log_x, lines=list(lines.items()), ticks=ticks))
        return out

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "format": FORMAT,
            "version": VERSION,
            "spec": self.spec.to_dict(),
            "metric": self.metric,
            "goal": self.spec.goal,
            "best": None if best is None else best.name,
            "rows": self.rows(),
        }


def _axis_value(keys: tuple[str, ...], overrides: dict[str, Any]) -> Any:
    """A plain field's value, or 'd_model=32,d_head=8' for a group of fields set together."""
    if len(keys) == 1:
        return overrides.get(keys[0])
    return ",".join(f"{key.partition('.')[2]}={format_value(overrides.get(key))}" for key in keys)


def _spans_decade(xs: list[float]) -> bool:
    return min(xs) > 0 and max(xs) / min(xs) >= 10


def collect_results(spec: SweepSpec, trials: list[Trial]) -> SweepResults:
    """Read every trial's directory (trials that never ran are listed as 'not run')."""
    results = []
    for trial in trials:
        run_dir = trial_dir(spec, trial)
        curve = read_metrics(run_dir)
        outcome = read_outcome(run_dir) or {}
        results.append(
            TrialResult(
                name=trial.name,
                overrides=trial.overrides_dict,
                status=outcome.get("status", "not run"),
                error=outcome.get("error", ""),
                final=dict(curve[-1]) if curve else {},
                curve=curve,
                tokens_per_second=outcome.get("tokens_per_second"),
                wall_seconds=outcome.get("wall_seconds"),
                run_dir=run_dir,
            )
        )
    return SweepResults(spec=spec, trials=results)


def write_results(results: SweepResults) -> dict[str, Path]:
    """results.csv and results.json in the sweep directory."""
    out = Path(results.spec.out)
    return {
        "csv": write_csv(out / "results.csv", results.rows()),
        "json": write_json(out / "results.json", results.to_dict()),
    }


def format_table(results: SweepResults) -> str:
    """The ranked trials as aligned text: rank, name, metric, tokens/s, wall time, status."""
    metric = results.metric
    lines = [f"{'rank':>4s}  {'trial':40s} {metric:>12s} {'tokens/s':>10s} {'wall s':>8s}  status"]
    for row in results.rows():
        value = row.get(metric)
        score = f"{value:12.4f}" if row["rank"] != "" else f"{'-':>12s}"  # a failed trial's last value is not a result
        speed = f"{row['tokens_per_second']:10,.0f}" if row["tokens_per_second"] else f"{'-':>10s}"
        wall = f"{row['wall_seconds']:8.1f}" if row["wall_seconds"] is not None else f"{'-':>8s}"
        status = row["status"] + (f": {row['error']}" if row["error"] else "")
        lines.append(f"{row['rank']!s:>4s}  {row['trial']:40s} {score} {speed} {wall}  {status}")
    return "\n".join(lines)
