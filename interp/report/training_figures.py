"""Plotly figures of a training run's metrics.jsonl (rendering only).

>>> fig = training_curves([{"step": 0, "tokens_seen": 0, "val": 4.2}, {"step": 10, "tokens_seen": 640, "val": 3.1}])
"""

from collections.abc import Sequence

import plotly.graph_objects as go

LABELS = {
    "train_loss": "training loss (batch mix)",
    "val": "validation loss: corpus",
    "val_repeated": "validation loss: repeated-span sequences",
}


def training_curves(
    metrics: Sequence[dict],
    *,
    bigram_val_loss: float | None = None,
    phase_tokens: tuple[int, int] | None = None,
) -> go.Figure:
    """Loss curves against tokens seen (log x), the bigram baseline as a dotted line, the phase change shaded."""
    fig = go.Figure()
    for key, label in LABELS.items():
        points = [(m["tokens_seen"], m[key]) for m in metrics if key in m and m["tokens_seen"] > 0]
        if points:
            x, y = zip(*points)
            fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=label, marker={"size": 4}))
    if bigram_val_loss is not None:
        fig.add_hline(y=bigram_val_loss, line_dash="dot", line_color="grey", annotation_text="bigram baseline (corpus)")
    if phase_tokens is not None:
        fig.add_vrect(
            x0=phase_tokens[0],
            x1=phase_tokens[1],
            fillcolor="rgba(255, 170, 0, 0.18)",
            line_width=0,
            annotation_text="phase change",
            annotation_position="top left",
        )
    fig.update_layout(
        title="Training",
        xaxis_title="tokens seen",
        yaxis_title="loss (nats per token)",
        xaxis_type="log",
        height=420,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
