"""Plotly heatmaps of ablation studies and head comparisons. Rendering only: numbers come from interp.analysis.

Effects use a diverging scale centred on zero (red: the ablation raises the metric — for loss, the head
mattered); pattern distances a sequential scale from 0 to 1.

>>> import tempfile
>>> from pathlib import Path
>>> from interp.analysis.ablation.study import ablation_study
>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> fig = ablation_heatmap(ablation_study(model, tokens, method="zero"))
>>> fig.data[0].type, len(fig.data[0].z)                        # one row per layer
('heatmap', 2)
>>> fig.write_html(Path(tempfile.mkdtemp()) / "heatmap.html", include_plotlyjs=True)
"""

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.analysis.ablation.compare import HeadComparison
from interp.analysis.ablation.study import AblationResult

DIVERGING = "RdBu_r"
SEQUENTIAL = "Viridis"
SPACING = 0.12  # between the comparison panels: room for the effect colour bar


def _panel_end(column: int, columns: int = 3) -> float:
    """Right edge (paper coordinates) of a make_subplots column, to put a colour bar beside it."""
    width = (1 - (columns - 1) * SPACING) / columns
    return column * width + (column - 1) * SPACING


def _labels(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _effect_heatmap(z, x: list[str], y: list[str], *, zmax: float | None = None, name: str = "effect", **extra) -> go.Heatmap:
    return go.Heatmap(
        z=z,
        x=x,
        y=y,
        zmid=0,
        zmin=-zmax if zmax else None,
        zmax=zmax,
        colorscale=DIVERGING,
        text=[[f"{v:+.3f}" for v in row] for row in z],
        texttemplate="%{text}",
        hovertemplate=f"%{{y}} %{{x}}<br>{name} %{{z:+.4f}}<extra></extra>",
        **extra,
    )


def ablation_heatmap(result: AblationResult, *, title: str | None = None) -> go.Figure:
    """Layer x head heatmap of ablation effects (layers: layer x component; pairs: head x head)."""
    effects = result.effects
    if result.over == "heads":
        x, y, z = _labels("H", effects.shape[1]), _labels("L", effects.shape[0]), effects.tolist()
    elif result.over == "layers":
        x, y, z = list(result.components), _labels("L", effects.shape[0]), effects.tolist()
    else:
        n_layers, n_heads = effects.shape[:2]
        names = [f"L{layer}H{head}" for layer in range(n_layers) for head in range(n_heads)]
        x, y, z = names, names, effects.reshape(n_layers * n_heads, -1).tolist()
    fig = go.Figure(_effect_heatmap(z, x, y, colorbar={"title": f"Δ {result.metric}"}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=title or f"{result.method}-ablation of {result.over}: change in {result.metric} (clean {result.baseline:.4f})",
        xaxis_title="head" if result.over == "heads" else ("component" if result.over == "layers" else "ablated with"),
        yaxis_title="layer" if result.over != "pairs" else "ablated head",
        width=max(420, 90 * len(x) + 200),
        height=max(320, 60 * len(y) + 160),
    )
    return fig


def comparison_heatmap(comparison: HeadComparison, *, title: str | None = None) -> go.Figure:
    """Three panels: ablation effects in model A, in model B (one colour scale), and pattern distance."""
    label_a, label_b = comparison.labels
    n_layers, n_heads = comparison.effects_a.shape
    x, y = _labels("H", n_heads), _labels("L", n_layers)
    zmax = max(float(comparison.effects_a.abs().max()), float(comparison.effects_b.abs().max())) or 1.0
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=(
            f"{label_a}: Δ {comparison.metric}",
            f"{label_b}: Δ {comparison.metric}",
            f"pattern distance ({comparison.distance})",
        ),
        horizontal_spacing=SPACING,
    )
    fig.add_trace(_effect_heatmap(comparison.effects_a.tolist(), x, y, zmax=zmax, name=label_a, showscale=False), row=1, col=1)
    fig.add_trace(
        _effect_heatmap(
            comparison.effects_b.tolist(),
            x,
            y,
            zmax=zmax,
            name=label_b,
            colorbar={"x": _panel_end(2) + 0.01, "xanchor": "left", "thickness": 14, "len": 0.9},
        ),
        row=1,
        col=2,
    )
    distance = comparison.pattern_distance.tolist()
    fig.add_trace(
        go.Heatmap(
            z=distance,
            x=x,
            y=y,
            zmin=0,
            zmax=1,
            colorscale=SEQUENTIAL,
            text=[[f"{v:.2f}" for v in row] for row in distance],
            texttemplate="%{text}",
            hovertemplate="%{y} %{x}<br>distance %{z:.3f}<extra></extra>",
            colorbar={"x": 1.01, "xanchor": "left", "thickness": 14, "len": 0.9},
        ),
        row=1,
        col=3,
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=title or f"{label_a} vs {label_b}: {comparison.method}-ablation effects and attention-pattern distance",
        width=max(900, 3 * (80 * n_heads + 120)),
        margin={"r": 90},
        height=max(340, 60 * n_layers + 180),
    )
    return fig
