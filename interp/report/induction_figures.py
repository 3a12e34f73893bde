"""Plotly figures for induction across checkpoints. Rendering only: every number comes from `interp.analysis`.

Curves are drawn against tokens seen on a log axis, so the step-0 checkpoint (0 tokens) is left off them.
The detected phase change is shaded.

>>> import tempfile
>>> from interp.analysis.induction.series import evaluate_series, probe_for_run
>>> from interp.train.checkpoints import list_checkpoints
>>> from pathlib import Path
>>> import interp
>>> run_dir = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).run_dir   # 10 steps, 1 s
>>> checkpoints = list_checkpoints(run_dir)
>>> series = evaluate_series(checkpoints, probe_for_run(checkpoints[-1]))
>>> fig = head_score_curves(series, "induction", phase=series.phase_change())
>>> len(fig.data)                                                 # one curve per head
4
>>> fig.write_html(Path(tempfile.mkdtemp()) / "induction.html", include_plotlyjs=True)
"""

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from interp.analysis.induction.head_scores import SCORE_NAMES, HeadScores
from interp.analysis.induction.phase import PhaseChange
from interp.analysis.induction.series import InductionSeries

PHASE_COLOUR = "rgba(255, 170, 0, 0.18)"
PALETTE = qualitative.Plotly + qualitative.D3 + qualitative.Dark24


def _colour(layer: int, head: int, n_heads: int) -> str:
    """One colour per head, the same in every panel."""
    return PALETTE[(layer * n_heads + head) % len(PALETTE)]


def _title(name: str) -> str:
    return name.replace("_", " ")


def _positive(series: InductionSeries) -> list[int]:
    """Indices of checkpoints that can sit on a log axis."""
    return [i for i, t in enumerate(series.tokens_seen) if t > 0]


def shade_phase(fig: go.Figure, phase: PhaseChange | None, **where) -> None:
    if phase is not None and phase.detected and phase.start_tokens and phase.end_tokens:
        fig.add_vrect(x0=phase.start_tokens, x1=phase.end_tokens, fillcolor=PHASE_COLOUR, line_width=0, **where)


def phase_note(phase: PhaseChange | None) -> str:
    if phase is None or not phase.detected:
        return ""
    return f" (shaded: phase change, steps {phase.start_step}-{phase.end_step})"


def head_score_curves(series: InductionSeries, score: str = "induction", *, phase: PhaseChange | None = None) -> go.Figure:
    """One line per head (L{layer}H{head}) of `score` against tokens seen; layer-0 heads dashed."""
    values = getattr(series.heads, score)
    keep = _positive(series)
    x = [series.tokens_seen[i] for i in keep]
    fig = go.Figure()
    for layer in range(values.shape[1]):
        for head in range(values.shape[2]):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=values[keep, layer, head].tolist(),
                    mode="lines+markers",
                    name=f"L{layer}H{head}",
                    line={"dash": "dash" if layer == 0 else "solid", "color": _colour(layer, head, values.shape[2])},
                )
            )
    shade_phase(fig, phase)
    fig.update_layout(
        title=f"{_title(score)} score per head vs tokens seen{phase_note(phase)}",
        xaxis={"title": "tokens seen", "type": "log"},
        yaxis={"title": f"{_title(score)} score"},
        height=420,
    )
    return fig


def score_panels(series: InductionSeries, *, phase: PhaseChange | None = None, scores: Sequence[str] = SCORE_NAMES) -> go.Figure:
    """A grid with one panel per score; each panel shows every head against tokens seen."""
    cols = 2
    rows = (len(scores) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_title(s) for s in scores], shared_xaxes=True)
    keep = _positive(series)
    x = [series.tokens_seen[i] for i in keep]
    for index, score in enumerate(scores):
        values = getattr(series.heads, score)
        row, col = index // cols + 1, index % cols + 1
        for layer in range(values.shape[1]):
            for head in range(values.shape[2]):
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=values[keep, layer, head].tolist(),
                        mode="lines",
                        name=f"L{layer}H{head}",
                        legendgroup=f"L{layer}H{head}",
                        showlegend=index == 0,
                        line={"dash": "dash" if layer == 0 else "solid", "color": _colour(layer, head, values.shape[2])},
                    ),
                    row=row,
                    col=col,
                )
        shade_phase(fig, phase, row=row, col=col)
    fig.update_xaxes(type="log")
    fig.update_layout(title=f"head scores vs tokens seen, dashed: layer 0{phase_note(phase)}", height=300 * rows)
    return fig


def loss_curves(series: InductionSeries, *, phase: PhaseChange | None = None) -> go.Figure:
    """Loss on the first and repeated half of repeated random tokens, and the ICL score, vs tokens seen."""
    keep = _positive(series)
    x = [series.tokens_seen[i] for i in keep]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=["induction loss", "in-context-learning score"])
    fig.add_trace(go.Scatter(x=x, y=series.first_half_loss[keep].tolist(), name="first half (unpredictable)"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=series.repeated_half_loss[keep].tolist(), name="repeated half"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=series.icl_score[keep].tolist(), name="ICL score (late - early loss)"), row=2, col=1)
    for row in (1, 2):
        shade_phase(fig, phase, row=row, col=1)
    fig.update_xaxes(type="log", title_text="tokens seen", row=2, col=1)
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_yaxes(title_text="loss (nats)", row=1, col=1)
    fig.update_yaxes(title_text="nats", row=2, col=1)
    fig.update_layout(height=560, title=f"losses vs tokens seen{phase_note(phase)}")
    return fig


def per_position_loss(series: InductionSeries, indices: Sequence[int] | None = None) -> go.Figure:
    """Loss at each token of the repeated sequences for a few checkpoints (default: about five, log-spread)."""
    n = len(series.steps)
    if indices is None:
        indices = sorted({round(i * (n - 1) / 4) for i in range(5)}) if n > 1 else [0]
    fig = go.Figure()
    for i in indices:
        losses = series.per_position_loss[i]
        fig.add_trace(go.Scatter(x=list(range(1, len(losses) + 1)), y=losses.tolist(), name=f"step {series.steps[i]}"))
    fig.update_layout(
        title="loss per token of [bos] r r (the second copy starts halfway)",
        xaxis={"title": "token position"},
        yaxis={"title": "loss (nats)"},
        height=400,
    )
    return fig


def head_score_heatmaps(heads: HeadScores, *, title: str = "head scores") -> go.Figure:
    """One [layer x head] heatmap per score for a single checkpoint (scores shaped [layer head])."""
    names = list(SCORE_NAMES)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[_title(n) for n in names], horizontal_spacing=0.04)
    for index, name in enumerate(names):
        values = getattr(heads, name)
        fig.add_trace(
            go.Heatmap(
                z=values.tolist(),
                x=[f"H{h}" for h in range(values.shape[1])],
                y=[f"L{layer}" for layer in range(values.shape[0])],
                zmin=-1 if name == "copying" else 0,
                zmax=1,
                colorscale="RdBu" if name == "copying" else "Blues",
                reversescale=name == "copying",
                showscale=index == len(names) - 1,
                texttemplate="%{z:.2f}",
            ),
            row=1,
            col=index + 1,
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=150 + 60 * getattr(heads, names[0]).shape[0])
    return fig
