"""Plotly figures and the offline page of a sweep (rendering only: the numbers come from interp.sweep.results).

>>> import tempfile
>>> from interp.sweep.spec import SweepSpec
>>> from interp.sweep.results import collect_results
>>> tiny = {"model.d_model": 16, "model.n_heads": 2, "model.d_head": 8, "model.n_ctx": 16, "data.corpus": "none",
...     "data.repeated_fraction": 1.0, "data.span_min": 2, "data.span_max": 4, "train.steps": 10, "train.batch_size": 4,
...     "train.eval_every": 5, "train.n_checkpoints": 3, "train.checkpoint_every": 0}
>>> spec = SweepSpec.from_dict({"preset": "attn-only-1l", "fixed": tiny, "sweep": {"train.lr": [3e-3, 1e-3]},
...     "metric": "val_repeated", "out": tempfile.mkdtemp()}, name="lr")
>>> page = sweep_page(collect_results(spec, None))      # no study yet: an empty table
>>> page.write(spec.out / "sweep.html").name
'sweep.html'
"""

from pathlib import Path

import plotly.graph_objects as go

from interp.report.html import Page
from interp.sweep.results import AxisSeries, SweepResults

TABLE_EXTRA = ("train_loss", "val", "val_repeated")
PAGE_FILE = "sweep.html"


def metric_vs_axis(series: AxisSeries, metric: str) -> go.Figure:
    """The final metric of each trial against one swept field: a line per setting of the other fields."""
    fig = go.Figure()
    for label, points in series.lines:
        xs = [x if series.numeric else str(x) for x, _, _ in points]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[y for _, y, _ in points],
                text=[name for _, _, name in points],
                mode="markers" if label == "trials" else "lines+markers",
                name=label,
                marker={"size": 8},
                hovertemplate="%{text}<br>" + metric + " %{y:.4f}<extra></extra>",
            )
        )
    if series.ticks:  # listed values: a tick at each, not plotly's log-axis minor labels
        fig.update_xaxes(tickvals=list(series.ticks), ticktext=[f"{v:g}" for v in series.ticks])
    fig.update_layout(
        title=f"final {metric} against {series.axis}",
        xaxis_title=series.axis,
        yaxis_title=f"final {metric}",
        xaxis_type="log" if series.log_x else ("linear" if series.numeric else "category"),
        height=380,
        legend={"orientation": "h", "y": -0.3},
    )
    return fig


def trial_curves(results: SweepResults, key: str) -> go.Figure:
    """`key` (a metrics.jsonl column) against tokens seen for every trial; the best trial drawn thicker."""
    best = results.best
    fig = go.Figure()
    for trial in results.trials:
        points = [(r["tokens_seen"], r[key]) for r in trial.curve if key in r and r["tokens_seen"] > 0]
        if not points:
            continue
        is_best = best is not None and trial.name == best.name
        fig.add_trace(
            go.Scatter(
                x=[x for x, _ in points],
                y=[y for _, y in points],
                mode="lines",
                name=trial.name + (" (best)" if is_best else "") + ("" if trial.status == "complete" else f" ({trial.status})"),
                line={"width": 3.5 if is_best else 1.5, "dash": "solid" if trial.status == "complete" else "dot"},
            )
        )
    fig.update_layout(
        title=f"{key} during training",
        xaxis_title="tokens seen",
        yaxis_title=key,
        xaxis_type="log",
        height=420,
        legend={"orientation": "v"},
    )
    return fig


def optimization_history(results: SweepResults) -> go.Figure:
    """The metric of each complete trial against its trial number, and the best so far (Optuna's history view)."""
    history = results.history()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[n for n, _, _, _ in history],
            y=[v for _, v, _, _ in history],
            text=[name for _, _, _, name in history],
            mode="markers",
            name="trial",
            marker={"size": 8},
            hovertemplate="%{text}<br>" + results.metric + " %{y:.4f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[n for n, _, _, _ in history],
            y=[b for _, _, b, _ in history],
            mode="lines",
            name="best so far",
            line={"shape": "hv"},
        )
    )
    fig.update_layout(
        title=f"final {results.metric} by trial", xaxis_title="trial number", yaxis_title=f"final {results.metric}", height=380
    )
    return fig


def importance_bars(importances: dict[str, float]) -> go.Figure:
    """Each swept entry's importance for the metric (Optuna's PED-ANOVA), largest on top."""
    names = sorted(importances, key=importances.get)
    fig = go.Figure(go.Bar(x=[importances[n] for n in names], y=names, orientation="h"))
    fig.update_layout(title="parameter importance (PED-ANOVA)", xaxis_title="importance", height=120 + 40 * len(names))
    return fig


def sweep_page(results: SweepResults) -> Page:
    """The sweep on one offline page: the results table, the metric against each swept field, every loss curve."""
    spec, metric = results.spec, results.metric
    states = {status: sum(t.status == status for t in results.trials) for status in ("complete", "pruned", "failed")}
    total = len(results.trials) + results.not_started
    page = Page(
        f"Sweep: {spec.name}",
        f"{spec.method} search over {', '.join(a.name for a in spec.axes)} on Optuna; of {total} trials "
        + ", ".join(f"{n} {status}" for status, n in states.items())
        + f"; ranked by final {metric} ({'lower' if spec.goal == 'min' else 'higher'} is better); pruner {spec.pruner.kind}",
    )
    base = spec.preset or str(spec.config)
    fixed = ", ".join(f"{k}={v!r}" for k, v in spec.fixed) or "none"
    page.text(f"Base: {base}. Fixed overrides: {fixed}.")
    best = results.best
    if best is not None:
        page.text(f"Best trial: {best.name} with final {metric} {best.score(metric):.4f}.")

    page.heading("Results")
    rows = results.rows()
    extra = [k for k in TABLE_EXTRA if k != metric and any(k in r for r in rows)]
    columns = ["rank", "trial", "number", *spec.swept_keys, "status", metric, *extra, "tokens/s", "wall s"]
    shown = [
        {
            **row,
            **{key: _exact(row[key]) for key in spec.swept_keys},  # 0.002246, not 0.0022: the value the trial ran with
            "tokens/s": "" if row["tokens_per_second"] is None else round(row["tokens_per_second"]),
            "wall s": "" if row["wall_seconds"] is None else f"{row['wall_seconds']:.1f}",
        }
        for row in rows
    ]
    page.table(shown, columns=columns, digits=4)
    for trial in results.trials:
        if trial.status == "failed":
            page.note(f"{trial.name} failed: {trial.error}")

    page.heading(f"Final {metric} against each swept field")
    for series in results.axis_series():
        if series.lines:
            page.figure(metric_vs_axis(series, metric))
    if results.history():
        page.figure(optimization_history(results))
    if results.importances:
        page.figure(
            importance_bars(results.importances), caption="How much each swept entry explains the metric among the best trials."
        )

    if results.not_started:
        page.note(f"{results.not_started} trials not started yet")

    page.heading("Learning curves")
    for key in dict.fromkeys([metric, "train_loss"]):
        if any(key in r for t in results.trials for r in t.curve):
            page.figure(trial_curves(results, key), caption=f"{key} of every trial against tokens seen (log scale).")
    return page


def write_sweep_page(results: SweepResults) -> Path:
    """Write `sweep_page(results)` to sweep.html in the sweep directory (after `run_sweep` returns)."""
    return sweep_page(results).write(Path(results.spec.out) / PAGE_FILE)


def _exact(value):
    return f"{value:g}" if isinstance(value, float) else value
