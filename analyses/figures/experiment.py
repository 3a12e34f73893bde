"""Plotly figures for the source-write-up experiments (analyses/char_gpt.py, gpt2_from_scratch.py,
tokenizer_comparison.py). Rendering only: every number arrives computed.

>>> fig = baseline_bars({"model": 1.6, "bigram": 2.5, "unigram": 3.3}, unit="nats per character")
"""

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def baseline_bars(losses: Mapping[str, float], *, unit: str, title: str = "Validation loss against baselines") -> go.Figure:
    """One bar per model or baseline, lowest first."""
    names = sorted(losses, key=losses.get)
    fig = go.Figure(
        go.Bar(x=names, y=[losses[n] for n in names], text=[f"{losses[n]:.3f}" for n in names], textposition="outside")
    )
    fig.update_layout(title=title, yaxis_title=f"loss ({unit})", height=380)
    return fig


def loss_curves(
    curves: Mapping[str, Sequence[dict]],
    *,
    key: str = "val",
    scale: Mapping[str, float] | None = None,
    unit: str = "nats per token",
    title: str = "Validation loss",
    log_x: bool = True,
) -> go.Figure:
    """One line per run: metrics records' `key` against tokens seen, each run's values times `scale[run]`
    (e.g. tokens per character, to turn nats per token into nats per character)."""
    fig = go.Figure()
    for name, records in curves.items():
        factor = 1.0 if scale is None else scale[name]
        points = [(r["tokens_seen"], r[key] * factor) for r in records if key in r and r["tokens_seen"] > 0]
        if points:
            x, y = zip(*points)
            fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=name, marker={"size": 4}))
    fig.update_layout(
        title=title,
        xaxis_title="tokens seen",
        yaxis_title=f"{key} ({unit})",
        xaxis_type="log" if log_x else "linear",
        height=420,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def grouped_bars(rows: Sequence[dict], *, x: str, y: str, group: str, title: str, y_title: str) -> go.Figure:
    """Bars of rows[y] at rows[x], one colour per rows[group] (e.g. bits per character by model and tokenizer)."""
    fig = go.Figure()
    for name in dict.fromkeys(r[group] for r in rows):
        members = [r for r in rows if r[group] == name]
        fig.add_trace(go.Bar(name=str(name), x=[str(r[x]) for r in members], y=[r[y] for r in members]))
    fig.update_layout(title=title, barmode="group", yaxis_title=y_title, height=400, legend={"orientation": "h", "y": -0.2})
    return fig


def head_summary_heatmaps(
    summaries: Mapping[str, Sequence[dict]], *, metrics: Sequence[str], title: str = "Attention per head"
) -> go.Figure:
    """A grid of heatmaps: one row per run, one column per metric; each cell's rows are layers, columns heads.

    `summaries[run]` is a list of {"layer", "head", metric: value} dicts (AttentionSummary.rows() plus scores).
    """
    runs = list(summaries)
    fig = make_subplots(
        rows=len(runs),
        cols=len(metrics),
        column_titles=list(metrics),
        row_titles=runs,
        horizontal_spacing=0.03,
        vertical_spacing=0.02,
    )
    for r, run in enumerate(runs, start=1):
        rows = summaries[run]
        n_layers = max(x["layer"] for x in rows) + 1
        n_heads = max(x["head"] for x in rows) + 1
        for c, metric in enumerate(metrics, start=1):
            grid = [[None] * n_heads for _ in range(n_layers)]
            for x in rows:
                grid[x["layer"]][x["head"]] = x[metric]
            fig.add_trace(
                go.Heatmap(
                    z=grid,
                    x=[f"H{h}" for h in range(n_heads)],
                    y=[f"L{layer}" for layer in range(n_layers)],
                    coloraxis="coloraxis" if metric != "entropy" else "coloraxis2",
                    hovertemplate=f"{run}<br>{metric} %{{y}}%{{x}}: %{{z:.3f}}<extra></extra>",
                ),
                row=r,
                col=c,
            )
    fig.update_layout(
        title=title,
        height=max(300, 110 * len(runs)),
        coloraxis={"colorscale": "Blues", "cmin": 0, "cmax": 1, "colorbar": {"title": "attention", "x": 1.02}},
        coloraxis2={"colorscale": "Greens", "colorbar": {"title": "entropy (nats)", "x": 1.12}},
    )
    return fig
