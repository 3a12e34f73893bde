"""Plotly figures for the logit lens and the tuned lens (rendering only: every number comes from interp.analysis).

>>> from interp.analysis.lens.metrics import lens_metrics
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11)).eval()
>>> metrics = lens_metrics(model, torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0)))
>>> [trace.name for trace in kl_by_layer(metrics).data]
['logit lens']
>>> kl_heatmap(metrics).data[0].y
('resid_pre0', 'resid_pre1', 'final')
"""

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from interp.analysis.lens.metrics import LensMetrics, layer_labels
from interp.analysis.lens.series import LensSeries
from interp.report.dla_figures import PALETTE

STYLE = {"logit lens": {"dash": "dash", "color": "#e45756"}, "tuned lens": {"dash": "solid", "color": "#4c78a8"}}
TITLES = {"kl": "KL(final ‖ lens), nats", "prob": "target probability", "rank": "target rank (0 = top)", "top1": "top-1 rate"}


def _lenses(logit: LensMetrics, tuned: LensMetrics | None) -> list[LensMetrics]:
    return [logit] + ([] if tuned is None else [tuned])


def by_layer(logit: LensMetrics, tuned: LensMetrics | None = None, *, name: str = "kl", at_read: bool = False) -> go.Figure:
    """One metric per layer (mean over rows of each row's mean over positions; error bars: standard error)."""
    figure = go.Figure()
    for metrics in _lenses(logit, tuned):
        mean, sem = metrics.per_layer(name, at_read=at_read)
        figure.add_trace(
            go.Scatter(
                x=list(metrics.labels),
                y=mean.tolist(),
                error_y={"type": "data", "array": sem.tolist()},
                mode="lines+markers",
                name=metrics.lens,
                line=STYLE.get(metrics.lens, {}),
            )
        )
    where = "at the task's read position" if at_read else "over all positions"
    figure.update_layout(title=f"{TITLES[name]} per layer, {where}", yaxis={"title": TITLES[name]}, height=400)
    return figure


def kl_by_layer(logit: LensMetrics, tuned: LensMetrics | None = None) -> go.Figure:
    return by_layer(logit, tuned, name="kl")


def kl_heatmap(metrics: LensMetrics, *, position_labels: Sequence[str] | None = None) -> go.Figure:
    """Mean KL to the final prediction at every layer and position."""
    values = metrics.per_position("kl")
    x = list(position_labels) if position_labels else [str(p) for p in range(values.shape[-1])]
    figure = go.Figure(
        go.Heatmap(
            z=values.tolist(),
            x=x,
            y=list(metrics.labels),
            colorscale="Viridis",
            zmin=0.0,
            colorbar={"title": "nats"},
            hovertemplate="%{y} position %{x}: %{z:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{metrics.lens}: KL(final ‖ lens) per layer and position", yaxis={"autorange": "reversed"}, height=360
    )
    return figure


def head_heatmap(metrics: LensMetrics, *, name: str = "kl", at_read: bool = False) -> go.Figure:
    """Each head's output read alone through the logit lens: `name` per layer and head."""
    mean, _ = metrics.per_layer(name, heads=True, at_read=at_read)
    n_layers, n_heads = mean.shape
    figure = go.Figure(
        go.Heatmap(
            z=mean.tolist(),
            x=[f"H{h}" for h in range(n_heads)],
            y=[f"L{layer}" for layer in range(n_layers)],
            colorscale="Viridis" + ("_r" if name == "kl" else ""),
            colorbar={"title": name},
            hovertemplate="%{y}%{x}: %{z:.3f}<extra></extra>",
        )
    )
    where = "at the read position" if at_read else "over all positions"
    figure.update_layout(
        title=f"each head's output alone through the logit lens: {TITLES[name]} {where}",
        yaxis={"autorange": "reversed"},
        height=max(300, 40 * n_layers + 150),
    )
    return figure


def kl_series(series: LensSeries) -> go.Figure:
    """KL to the final prediction at every layer across checkpoints: logit lens dashed, tuned lens solid."""
    keep = [i for i, step in enumerate(series.steps) if step > 0]
    x = [series.steps[i] for i in keep]
    n_entries = series.kl_logit.shape[1]
    labels = layer_labels(tuple(range(n_entries)), n_entries - 1)
    figure = go.Figure()
    for layer in range(n_entries - 1):  # the final layer is 0 by definition
        colour = PALETTE[layer % len(PALETTE)]
        for lens, mean, sem in (("logit", series.kl_logit, series.kl_logit_sem), ("tuned", series.kl_tuned, series.kl_tuned_sem)):
            if torch.isnan(mean[keep, layer]).all():
                continue
            figure.add_trace(
                go.Scatter(
                    x=x,
                    y=mean[keep, layer].tolist(),
                    error_y={"type": "data", "array": sem[keep, layer].tolist(), "thickness": 1},
                    mode="lines+markers",
                    name=f"{labels[layer]} {lens} lens",
                    line={"color": colour, "dash": "dash" if lens == "logit" else "solid"},
                )
            )
    figure.update_layout(
        title="KL(final ‖ lens) per layer across training (dashed: logit lens, solid: tuned lens)",
        xaxis={"title": "step", "type": "log"},
        yaxis={"title": "nats"},
        height=440,
    )
    return figure
