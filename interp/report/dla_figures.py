"""Plotly figures for direct logit attribution (rendering only: every number comes from interp.analysis).

>>> from interp.analysis.logit_attribution.decompose import direct_logit_attribution
>>> from interp.analysis.logit_attribution.directions import token_direction
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11)).eval()
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> result = direct_logit_attribution(model, tokens, token_direction(3, torch.full((4,), 7)))
>>> head_heatmap(result).data[0].y                     # layers down, heads across
('L0', 'L1')
>>> len(component_bars(result).data[0].x)              # 6 components and 2 biases
8
"""

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.colors import qualitative
from torch import Tensor

from interp.analysis.logit_attribution.result import LogitAttribution
from interp.analysis.logit_attribution.series import AttributionSeries

PALETTE = qualitative.Plotly + qualitative.D3 + qualitative.Dark24


def diverging_heatmap(
    values: Tensor, x: Sequence[str], y: Sequence[str], *, title: str, colorbar: str, text: Sequence[Sequence[str]] | None = None
) -> go.Figure:
    """Red-blue colours centred on 0, rows top to bottom; `text` shows in the hover."""
    z = values.detach().double()
    bound = float(z.abs().nan_to_num().max()) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=z.tolist(),
            x=list(x),
            y=list(y),
            text=text,
            colorscale="RdBu",
            zmid=0.0,
            zmin=-bound,
            zmax=bound,
            colorbar={"title": colorbar},
            hovertemplate="%{y} %{x}: %{z:.3f}" + (" %{text}" if text is not None else "") + "<extra></extra>",
        )
    )
    figure.update_layout(title=title, yaxis={"autorange": "reversed"}, height=max(300, 40 * len(y) + 150))
    return figure


def _pm(mean: Tensor, sem: Tensor) -> list[list[str]]:
    return [[f"± {float(s):.3f}" for s in row] for row in sem.reshape(mean.shape)]


def head_heatmap(result: LogitAttribution) -> go.Figure:
    """Each head's mean attribution over the rows (hover: its standard error)."""
    mean, sem = result.mean_sem("heads")
    n_layers, n_heads = mean.shape
    return diverging_heatmap(
        mean,
        [f"H{h}" for h in range(n_heads)],
        [f"L{layer}" for layer in range(n_layers)],
        title=f"direct logit attribution per head ({result.direction}, mean of {result.n_rows} rows)",
        colorbar="logit",
        text=_pm(mean, sem),
    )


def component_bars(result: LogitAttribution) -> go.Figure:
    """Every component and bias with its mean and standard error, beside the model's own value."""
    components, components_sem = result.mean_sem("components")
    biases, biases_sem = result.mean_sem("biases")
    value, value_sem = result.mean_sem("logit_value")
    labels = list(result.component_labels) + list(result.bias_labels)
    figure = go.Figure(
        go.Bar(
            x=labels,
            y=torch.cat([components, biases]).tolist(),
            error_y={"type": "data", "array": torch.cat([components_sem, biases_sem]).tolist()},
            marker_color=["#4c78a8"] * len(result.component_labels) + ["#bbbbbb"] * len(result.bias_labels),
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        )
    )
    figure.add_hline(y=float(value), line_dash="dash", annotation_text=f"model: {float(value):.3f} ± {float(value_sem):.3f}")
    figure.update_layout(
        title=f"attribution per component ({result.direction}); parts sum to the model's value within {result.error:.1e}",
        yaxis={"title": "logit"},
        height=420,
    )
    return figure


def source_heatmap(result: LogitAttribution, *, n_heads: int = 8) -> go.Figure:
    """The heads of largest |attribution|, split by the position each reads from (mean over rows)."""
    mean = result.by_source.double().mean(0)  # layer head key
    n_layers, heads, n_pos = mean.shape
    order = mean.sum(-1).abs().flatten().argsort(descending=True)[:n_heads].tolist()
    rows = torch.stack([mean[i // heads, i % heads] for i in order])
    x = list(result.position_labels) if result.position_labels else [str(p) for p in range(n_pos)]
    if len(set(x)) != len(x):  # plotly merges equal category labels
        x = [f"{p}:{label}" for p, label in enumerate(x)]
    return diverging_heatmap(
        rows,
        x,
        [f"L{i // heads}H{i % heads}" for i in order],
        title="each head's attribution at the read position, by the position it attends to",
        colorbar="logit",
    )


def head_curves(series: AttributionSeries) -> go.Figure:
    """Each head's mean attribution across checkpoints (error bars: standard error over rows), and the model's
    logit value; step 0 is left off the log axis."""
    keep = [i for i, step in enumerate(series.steps) if step > 0]
    x = [series.steps[i] for i in keep]
    n_layers, n_heads = series.heads.shape[1:]
    figure = go.Figure()
    for layer in range(n_layers):
        for head in range(n_heads):
            figure.add_trace(
                go.Scatter(
                    x=x,
                    y=series.heads[keep, layer, head].tolist(),
                    error_y={"type": "data", "array": series.heads_sem[keep, layer, head].tolist(), "thickness": 1},
                    mode="lines+markers",
                    name=f"L{layer}H{head}",
                    line={"color": PALETTE[(layer * n_heads + head) % len(PALETTE)], "dash": "dash" if layer == 0 else "solid"},
                )
            )
    figure.add_trace(
        go.Scatter(
            x=x, y=series.logit_value[keep].tolist(), mode="lines", name="model value", line={"color": "black", "width": 3}
        )
    )
    figure.update_layout(
        title=f"direct logit attribution of each head across training ({series.direction})",
        xaxis={"title": "step", "type": "log"},
        yaxis={"title": "logit"},
        height=480,
    )
    return figure


def component_curves(series: AttributionSeries) -> go.Figure:
    """Each layer component's mean attribution across checkpoints."""
    keep = [i for i, step in enumerate(series.steps) if step > 0]
    x = [series.steps[i] for i in keep]
    figure = go.Figure()
    for index, label in enumerate(series.component_labels):
        figure.add_trace(
            go.Scatter(
                x=x,
                y=series.components[keep, index].tolist(),
                error_y={"type": "data", "array": series.components_sem[keep, index].tolist(), "thickness": 1},
                mode="lines+markers",
                name=label,
                line={"color": PALETTE[index % len(PALETTE)]},
            )
        )
    figure.update_layout(
        title=f"attribution per component across training ({series.direction})",
        xaxis={"title": "step", "type": "log"},
        yaxis={"title": "logit"},
        height=420,
    )
    return figure
