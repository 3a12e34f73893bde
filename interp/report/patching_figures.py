"""Plotly figures for patching results (rendering only: every number was computed by interp.analysis).

>>> from interp.analysis.core.metrics import LogitDiff
>>> from interp.analysis.patching.activation import activation_patching
>>> from interp.report.html import Page
>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> clean = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> corrupted = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(1))
>>> metric = LogitDiff(correct=clean[:, -1], wrong=corrupted[:, -1], positions=torch.full((4,), 7))
>>> result = activation_patching(model, clean, corrupted, metric, kind="z")
>>> fig = patching_heatmap(result, title="head outputs")
>>> fig.data[0].y                                                 # layers down, heads across
('L0', 'L1')
>>> page = Page("IOI patching").figure(fig)
"""

from collections.abc import Sequence

import plotly.graph_objects as go
from torch import Tensor

COLORS = "RdBu"


def _heatmap(
    z: Tensor, x: Sequence[str], y: Sequence[str], *, title: str, colorbar: str, height: int | None = None, middle: float = 0.0
) -> go.Figure:
    """Diverging colours centred on `middle` (the value of "no effect")."""
    values = z.detach().float()
    bound = float((values - middle).abs().max()) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=values.tolist(),
            x=list(x),
            y=list(y),
            colorscale=COLORS,
            zmid=middle,
            zmin=middle - bound,
            zmax=middle + bound,
            colorbar={"title": colorbar},
            hovertemplate="%{y} %{x}: %{z:.3f}<extra></extra>",
        )
    )
    figure.update_layout(title=title, yaxis={"autorange": "reversed"}, height=height or max(300, 40 * len(y) + 150))
    return figure


def patching_heatmap(result, *, title: str, position_labels: Sequence[str] | None = None, normalised: bool = True) -> go.Figure:
    """Heatmap of a patching result (exact, attribution or path): layers down, positions or heads across; a
    per-head-per-position result gets one row per head. Colour: normalised metric (1 = the clean value), white
    where a cell has no effect: 0 for denoising, 1 for noising and path patching (normalised only)."""
    values = result.normalised if normalised else result.values
    axes = tuple(result.axes)
    n_layers = values.shape[0]
    label = "normalised metric" if normalised else "metric"
    no_effect = result.no_effect if normalised else 0.0

    def positions(n: int) -> list[str]:
        return list(position_labels) if position_labels is not None and len(position_labels) == n else [str(i) for i in range(n)]

    if axes == ("layer", "pos"):
        return _heatmap(
            values,
            positions(values.shape[1]),
            [f"L{layer}" for layer in range(n_layers)],
            title=title,
            colorbar=label,
            middle=no_effect,
        )
    if axes == ("layer", "head"):
        return _heatmap(
            values,
            [f"H{h}" for h in range(values.shape[1])],
            [f"L{layer}" for layer in range(n_layers)],
            title=title,
            colorbar=label,
            middle=no_effect,
        )
    if axes == ("layer", "pos", "head"):
        values = values.permute(0, 2, 1)
    rows = [f"L{layer}H{h}" for layer in range(n_layers) for h in range(values.shape[1])]
    return _heatmap(
        values.reshape(len(rows), -1), positions(values.shape[2]), rows, title=title, colorbar=label, middle=no_effect
    )


def attribution_scatter(exact: Tensor, estimate: Tensor, *, title: str, labels: Sequence[str] | None = None) -> go.Figure:
    """Attribution-patching estimates against exact patching, one point per cell, with the diagonal."""
    x, y = exact.flatten().tolist(), estimate.flatten().tolist()
    low, high = min(x + y), max(x + y)
    figure = go.Figure(
        [
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                text=list(labels) if labels else None,
                name="cells",
                hovertemplate="%{text}: exact %{x:.3f}, attribution %{y:.3f}<extra></extra>",
            ),
            go.Scatter(x=[low, high], y=[low, high], mode="lines", line={"dash": "dot", "color": "grey"}, name="y = x"),
        ]
    )
    figure.update_layout(
        title=title, xaxis_title="exact patching (normalised)", yaxis_title="attribution patching (normalised)", height=450
    )
    return figure
