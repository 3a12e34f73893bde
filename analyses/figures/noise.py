"""Figures and the page of a noise-injection study (analyses/noise_injection.py). Rendering only.

A row of the results table describes one run: `name`, `where`, `train_loss` and `val_loss` (clean forward, final
weights), `val_change` and `val_change_se` (validation loss minus the clean model's, and the standard error of that
paired difference), `gap` (val - train), `val_accuracy`, `train_accuracy` and `noisy_train_loss` (what training
saw).
Curves are each run's metrics.jsonl records; comparisons are `HeadComparison`s of the clean model (A) and a noisy
one (B).

>>> import tempfile
>>> from pathlib import Path
>>> row = dict(train_loss=2.0, val_loss=2.1, val_change=0.0, val_change_se=0.01, gap=0.1, val_accuracy=0.4)
>>> rows = [dict(row, name="clean", where="none"), dict(row, name="tokens 10%", where="tokens", val_loss=2.2, val_change=0.1)]
>>> curves = {"clean": [{"step": 10, "val": 2.1, "train_loss": 2.0}], "tokens 10%": [{"step": 10, "val": 2.2}]}
>>> page = noise_page(rows, curves, {}, description="2l-mlp on char Shakespeare")   # no head comparisons here
>>> page.write(Path(tempfile.mkdtemp()) / "noise_injection" / "index.html").name
'index.html'
"""

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.analysis.ablation.compare import HeadComparison
from interp.report.ablation_figures import DIVERGING, SEQUENTIAL, comparison_heatmap
from interp.report.html import Page

# results-row key -> column heading on the page
TABLE_COLUMNS = {
    "name": "run", "noisy_train_loss": "train loss (noisy)", "train_loss": "train loss", "val_loss": "val loss",
    "val_change": "val - clean", "val_change_se": "± SE", "gap": "gap", "train_accuracy": "train acc",
    "val_accuracy": "val acc", "seconds": "seconds",
}  # fmt: skip


def _table_row(row: dict) -> dict:
    shown = {heading: row[key] for key, heading in TABLE_COLUMNS.items() if key in row}
    if "seconds" in shown:
        shown["seconds"] = round(shown["seconds"])
    return shown


def loss_bars(rows: Sequence[dict]) -> go.Figure:
    """Clean train and validation loss of every run, side by side, with the clean model's validation loss dotted."""
    names = [row["name"] for row in rows]
    fig = go.Figure(
        [
            go.Bar(name="train loss (clean forward)", x=names, y=[row["train_loss"] for row in rows]),
            go.Bar(name="validation loss", x=names, y=[row["val_loss"] for row in rows]),
        ]
    )
    clean = next((row for row in rows if row["where"] == "none"), None)
    if clean is not None:
        fig.add_hline(y=clean["val_loss"], line_dash="dot", line_color="grey", annotation_text="clean model, validation")
    low = min(min(row["train_loss"], row["val_loss"]) for row in rows)
    fig.update_layout(
        title="Loss of the final weights (no noise at evaluation)", barmode="group", yaxis_title="loss (nats per token)",
        yaxis_range=[0.9 * low, None], height=420, legend={"orientation": "h", "y": -0.35},
    )  # fmt: skip
    return fig


def change_gap_and_accuracy(rows: Sequence[dict]) -> go.Figure:
    """Three panels, one bar per run: validation loss against the clean model's (error bars: 2 standard errors of
    the paired difference), the generalisation gap (validation minus train loss) and validation token accuracy."""
    names = [row["name"] for row in rows]
    fig = make_subplots(
        rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.04,
        subplot_titles=("validation loss - clean (± 2 SE)", "generalisation gap (val - train)", "validation token accuracy"),
    )  # fmt: skip
    fig.add_trace(go.Bar(
        y=names, x=[row["val_change"] for row in rows], orientation="h", marker_color="#7f7f7f", showlegend=False,
        error_x={"type": "data", "array": [2 * row["val_change_se"] for row in rows]},
    ), row=1, col=1)  # fmt: skip
    fig.add_trace(
        go.Bar(y=names, x=[row["gap"] for row in rows], orientation="h", marker_color="#d62728", showlegend=False), row=1, col=2
    )
    fig.add_trace(
        go.Bar(y=names, x=[row["val_accuracy"] for row in rows], orientation="h", marker_color="#1f77b4", showlegend=False),
        row=1,
        col=3,
    )
    accuracies = [row["val_accuracy"] for row in rows]
    fig.update_xaxes(title_text="nats per token", row=1, col=1)
    fig.update_xaxes(title_text="nats per token", row=1, col=2)
    fig.update_xaxes(title_text="top-1 accuracy", range=[0.95 * min(accuracies), min(1.0, 1.02 * max(accuracies))], row=1, col=3)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=max(320, 32 * len(rows) + 160), width=1080, margin={"l": 170})
    return fig


def validation_curves(curves: dict[str, Sequence[dict]]) -> go.Figure:
    """Validation loss (solid) and the training loss with noise (dotted) against step, one colour per run."""
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    for index, (name, records) in enumerate(curves.items()):
        color = palette[index % len(palette)]
        val = [(r["step"], r["val"]) for r in records if "val" in r and r["step"] > 0]
        noisy = [(r["step"], r["train_loss"]) for r in records if "train_loss" in r]
        if val:
            fig.add_trace(
                go.Scatter(
                    x=[s for s, _ in val], y=[v for _, v in val], name=f"{name}: validation", mode="lines", line={"color": color}
                )
            )
        if noisy:
            fig.add_trace(go.Scatter(
                x=[s for s, _ in noisy], y=[v for _, v in noisy], name=f"{name}: training (with noise)", mode="lines",
                line={"color": color, "dash": "dot"}, visible="legendonly",
            ))  # fmt: skip
    fig.update_layout(
        title="Validation loss during training", xaxis_title="step", yaxis_title="loss (nats per token)", height=460
    )
    return fig


def head_overview(comparisons: dict[str, HeadComparison]) -> go.Figure:
    """Runs x heads: attention-pattern distance from the clean model, and the change in each head's ablation effect."""
    names = list(comparisons)
    first = next(iter(comparisons.values()))
    n_layers, n_heads = first.effects_a.shape
    heads = [f"L{layer}H{head}" for layer in range(n_layers) for head in range(n_heads)]
    distance = [c.pattern_distance.reshape(-1).tolist() for c in comparisons.values()]
    change = [(c.effects_b - c.effects_a).reshape(-1).tolist() for c in comparisons.values()]
    zmax = max((abs(v) for row in change for v in row), default=0.0) or 1.0
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.18,
        subplot_titles=(f"pattern distance from the clean model ({first.distance})", f"Δ ablation effect on {first.metric} (noisy - clean)"),
    )  # fmt: skip
    fig.add_trace(go.Heatmap(
        z=distance, x=heads, y=names, zmin=0, zmax=1, colorscale=SEQUENTIAL, texttemplate="%{z:.2f}",
        colorbar={"x": 0.41, "thickness": 12}, hovertemplate="%{y}<br>%{x}: distance %{z:.3f}<extra></extra>",
    ), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Heatmap(
        z=change, x=heads, y=names, zmid=0, zmin=-zmax, zmax=zmax, colorscale=DIVERGING, texttemplate="%{z:+.2f}",
        colorbar={"x": 1.01, "thickness": 12}, hovertemplate="%{y}<br>%{x}: Δ effect %{z:+.4f}<extra></extra>",
    ), row=1, col=2)  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Heads of each noisy model against the clean one", height=max(360, 45 * len(names) + 200), width=1100)
    return fig


def noise_page(
    rows: Sequence[dict],
    curves: dict[str, Sequence[dict]],
    comparisons: dict[str, HeadComparison],
    *,
    description: str,
    notes: Sequence[str] = (),
) -> Page:
    """The study on one page: results table, loss/gap/accuracy figures, curves and the per-head comparison."""
    page = Page("Noise injection during training", subtitle=description)
    page.text(
        "Each model is trained on the same batches from the same initial weights; only the noise differs. Noise is "
        "applied during training only: every loss and accuracy here is measured with the clean forward on the final "
        "weights (train: fixed training batches; validation: the run's held-out rows). The noisy training loss is "
        "what the optimiser saw over the last logging interval."
    )
    for note in notes:
        page.note(note)
    page.heading("Results")
    page.table([_table_row(row) for row in rows], digits=4)
    page.figure(loss_bars(rows))
    page.figure(change_gap_and_accuracy(rows))
    page.figure(validation_curves(curves), caption="Click a legend entry to show the noisy training loss (dotted).")
    if comparisons:
        page.heading("Heads: noisy models against the clean model")
        page.text(
            "Per head: the Jensen-Shannon distance between the two models' attention patterns on the same validation "
            "rows (0 = same pattern, 1 = disjoint), and how the mean-ablation effect of the head on the loss changed."
        )
        page.figure(head_overview(comparisons))
        for name, comparison in comparisons.items():
            page.figure(comparison_heatmap(comparison, title=f"clean vs {name}").update_layout(width=1080))
    return page
