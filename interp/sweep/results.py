"""Gather a sweep's trials into one table (results.csv, results.json) and the series its figures plot.

States come from the Optuna study (complete, pruned, failed, running, waiting; a trial queued again after an
interruption is one row, in the state of its latest attempt); numbers come from each trial's own run directory: the
last record of metrics.jsonl (the final metrics), so the table always agrees with the run directories.

>>> import tempfile
>>> from interp.sweep.spec import SweepSpec
>>> from interp.sweep.study import open_study
>>> tiny = {"model.d_model": 16, "model.n_heads": 2, "model.d_head": 8, "model.n_ctx": 16, "data.corpus": "none",
...     "data.repeated_fraction": 1.0, "data.span_min": 2, "data.span_max": 4, "train.steps": 10, "train.batch_size": 4,
...     "train.eval_every": 5, "train.n_checkpoints": 3, "train.checkpoint_every": 0}
>>> spec = SweepSpec.from_dict({"preset": "attn-only-1l", "fixed": tiny, "sweep": {"train.lr": [3e-3, 1e-3]},
...     "metric": "val_repeated", "out": tempfile.mkdtemp()}, name="lr")
>>> results = collect_results(spec, open_study(spec))       # before any trial ran
>>> [(row["trial"], row["status"]) for row in results.rows()]
[('lr=0.003', 'waiting'), ('lr=0.001', 'waiting')]
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from interp.core.io import write_csv, write_json
from interp.sweep.spec import Range, SweepSpec
from interp.sweep.trials import axis_choices, format_value
from interp.train.loop import read_metrics

FORMAT = "interp.sweep"
VERSION = 2
TRIALS_DIR = "trials"
NAME_ATTR = "trial"  # the trial user attr naming its run directory (interp.sweep.study)
STATUS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
MIN_TRIALS_FOR_IMPORTANCE = 4


@dataclass(frozen=True)
class TrialResult:
    """One trial as the table shows it. `final` is the last metrics.jsonl record; `curve` all of them."""

    name: str
    number: int  # the Optuna trial number of its latest attempt
    overrides: dict[str, Any]
    status: str  # one of STATUS's values
    error: str
    final: dict[str, Any]
    curve: list[dict[str, Any]]
    tokens_per_second: float | None
    wall_seconds: float | None
    run_dir: Path
    attempts: int = 1

    def score(self, metric: str) -> float | None:
        value = self.final.get(metric)
        if self.status != "complete" or not isinstance(value, (int, float)) or not math.isfinite(value):
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
    not_started: int = 0  # queued random/tpe trials not drawn yet
    importances: dict[str, float] | None = field(default=None)  # Optuna's PED-ANOVA importance of each [sweep] entry

    @property
    def metric(self) -> str:
        return self.spec.metric

    def ranked(self) -> list[TrialResult]:
        """Complete trials best first by the metric (spec.goal), then pruned, failed, running and waiting ones, each
        in trial order."""
        scored = [t for t in self.trials if t.score(self.metric) is not None]
        sign = 1 if self.spec.goal == "min" else -1
        scored.sort(key=lambda t: sign * t.score(self.metric))
        order = list(STATUS.values())
        rest = sorted((t for t in self.trials if t.score(self.metric) is None), key=lambda t: (order.index(t.status), t.number))
        return scored + rest

    def history(self) -> list[tuple[int, float, float, str]]:
        """(trial number, metric, best so far, name) of the complete trials in the order they were made."""
        out, best = [], None
        sign = 1 if self.spec.goal == "min" else -1
        for trial in sorted(self.trials, key=lambda t: t.number):
            score = trial.score(self.metric)
            if score is None:
                continue
            best = score if best is None or sign * score < sign * best else best
            out.append((trial.number, score, best, trial.name))
        return out

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
                    "number": trial.number,
                    **{key: trial.overrides.get(key, "") for key in keys},
                    "status": trial.status,
                    "attempts": trial.attempts,
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
            "not_started": self.not_started,
            "importances": self.importances,
            "rows": self.rows(),
        }


def _axis_value(keys: tuple[str, ...], overrides: dict[str, Any]) -> Any:
    """A plain field's value, or 'd_model=32,d_head=8' for a group of fields set together."""
    if len(keys) == 1:
        return overrides.get(keys[0])
    return ",".join(f"{key.partition('.')[2]}={format_value(overrides.get(key))}" for key in keys)


def _spans_decade(xs: list[float]) -> bool:
    return min(xs) > 0 and max(xs) / min(xs) >= 10


def collect_results(spec: SweepSpec, study: optuna.Study | None) -> SweepResults:
    """Every named trial of the study (the latest attempt of each), read from its run directory."""
    latest: dict[str, tuple[Any, int]] = {}
    not_started = 0
    for frozen in [] if study is None else study.get_trials(deepcopy=False):
        name = frozen.user_attrs.get(NAME_ATTR)
        if name is None:
            not_started += 1
            continue
        attempts = latest[name][1] + 1 if name in latest else 1
        latest[name] = (frozen, attempts)
    results = []
    for name, (frozen, attempts) in latest.items():
        run_dir = Path(spec.out) / TRIALS_DIR / name
        curve = read_metrics(run_dir)
        results.append(
            TrialResult(
                name=name,
                number=frozen.number,
                overrides=frozen.user_attrs.get("overrides") or _grid_overrides(spec, frozen.params),
                status=STATUS[frozen.state.name],
                error=frozen.user_attrs.get("error", "") if frozen.state == TrialState.FAIL else "",
                final=dict(curve[-1]) if curve else {},
                curve=curve,
                tokens_per_second=frozen.user_attrs.get("tokens_per_second"),
                wall_seconds=frozen.user_attrs.get("wall_seconds"),
                run_dir=run_dir,
                attempts=attempts,
            )
        )
    return SweepResults(spec=spec, trials=results, not_started=not_started, importances=_importances(study))


def _grid_overrides(spec: SweepSpec, params: dict[str, Any]) -> dict[str, Any]:
    """A queued grid trial's fields, from the parameters it was enqueued with."""
    overrides = {}
    for axis in spec.axes:
        if axis.name not in params:
            continue
        if isinstance(axis, Range):
            overrides[axis.name] = params[axis.name]
        else:
            overrides.update(dict(axis.options[axis_choices(axis).index(params[axis.name])]))
    return overrides


def _importances(study: optuna.Study | None) -> dict[str, float] | None:
    """PED-ANOVA importances (numpy only; fANOVA would need scikit-learn), or None with too few complete trials."""
    if study is None:
        return None
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE or not complete[0].params:
        return None
    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}
    except (ValueError, RuntimeError, ZeroDivisionError):
        return None


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
