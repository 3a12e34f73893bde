"""Plotly figures of dictionary features across checkpoints (interp.analysis.sae.feature_timeline). Rendering only:
every number was computed by `feature_timeline`.

Curves are drawn against the checkpoint step on a log axis, so a step-0 checkpoint is left off them (the
appearance histogram, one bar per checkpoint, keeps it). The induction phase change, when given, is shaded
between its start and end steps.

>>> import torch
>>> from interp.analysis.sae.dictionary import SparseDictionary
>>> from interp.analysis.sae.feature_timeline import feature_timeline
>>> saes = [(s, SparseDictionary(d_in=8, n_features=4, kind="relu", seed=min(s, 10))) for s in (0, 10, 100)]
>>> timeline = feature_timeline(saes)
>>> [len(f.data) for f in (presence_figure(timeline), appearance_histogram(timeline), sharpening_figure(timeline, n=2))]
[3, 2, 4]
"""

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from interp.analysis.induction.phase import PhaseChange
from interp.analysis.sae.feature_timeline import FeatureTimeline
from interp.core.errors import DataError
from interp.report.induction_figures import PHASE_COLOUR, phase_note

PALETTE = qualitative.Plotly + qualitative.D3
TOP_TRACKS = 8


def _positive(timeline: FeatureTimeline) -> list[int]:
    """Indices of checkpoints that can sit on a log axis."""
    return [i for i, step in enumerate(timeline.steps) if step > 0]


def shade_steps(fig: go.Figure, phase: PhaseChange | None, **where) -> None:
    """Shade the phase change's step range (curves here are against steps, not tokens seen)."""
    if phase is not None and phase.detected and phase.start_step and phase.end_step:
        fig.add_vrect(x0=phase.start_step, x1=phase.end_step, fillcolor=PHASE_COLOUR, line_width=0, **where)


def presence_figure(timeline: FeatureTimeline, *, phase: PhaseChange | None = None) -> go.Figure:
    """Per checkpoint: the fraction of the last dictionary's features already present; per pair of neighbours
    (drawn at the later one): the mean matched decoder cosine and the share matched above the threshold."""
    keep = _positive(timeline)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[timeline.steps[i] for i in keep],
            y=timeline.fraction_present[keep].tolist(),
            mode="lines+markers",
            name="final features present",
            hovertemplate="step %{x}: %{y:.1%} of the final features present<extra></extra>",
        )
    )
    later = [i for i in range(1, len(timeline.steps)) if timeline.steps[i] > 0]
    for name, values, dash in (
        ("mean matched cosine to the previous checkpoint", timeline.mean_neighbour_cosine, "solid"),
        (f"share matched at cosine >= {timeline.threshold:g}", timeline.matched_fraction, "dot"),
    ):
        fig.add_trace(
            go.Scatter(
                x=[timeline.steps[i] for i in later],
                y=values[[i - 1 for i in later]].tolist(),
                mode="lines+markers",
                name=name,
                line={"dash": dash},
                hovertemplate=f"step %{{x}}: {name} %{{y:.3f}}<extra></extra>",
            )
        )
    if timeline.mean_neighbour_correlation is not None:
        fig.add_trace(
            go.Scatter(
                x=[timeline.steps[i] for i in later],
                y=timeline.mean_neighbour_correlation[[i - 1 for i in later]].tolist(),
                mode="lines+markers",
                name="mean activation correlation to the previous checkpoint",
                line={"dash": "dash"},
            )
        )
    shade_steps(fig, phase)
    fig.update_layout(
        title=f"features of the last dictionary through training (cosine threshold {timeline.threshold:g}){phase_note(phase)}",
        xaxis={"title": "step", "type": "log"},
        yaxis={"title": "fraction / cosine", "range": [0, 1.05]},
        height=420,
    )
    return fig


def appearance_histogram(timeline: FeatureTimeline, *, phase: PhaseChange | None = None) -> go.Figure:
    """How many tracks (features of the last dictionary) appear at each checkpoint, one bar per checkpoint in step
    order (log-spaced checkpoints sit evenly), and the cumulative share of tracks present by then."""
    counts = [int((timeline.appearance == i).sum()) for i in range(len(timeline.steps))]
    labels = [str(step) for step in timeline.steps]
    total = max(timeline.n_tracks, 1)
    cumulative = [sum(counts[: i + 1]) / total for i in range(len(counts))]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(x=labels, y=counts, name="tracks appearing", hovertemplate="step %{x}: %{y} features appear<extra></extra>"),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(x=labels, y=cumulative, mode="lines+markers", name="cumulative share", line={"color": "#444"}),
        secondary_y=True,
    )
    if phase is not None and phase.detected and phase.start_step in timeline.steps and phase.end_step in timeline.steps:
        start, end = timeline.steps.index(phase.start_step), timeline.steps.index(phase.end_step)
        fig.add_vrect(x0=start - 0.5, x1=end + 0.5, fillcolor=PHASE_COLOUR, line_width=0)
    fig.update_xaxes(title_text="checkpoint step (where the unbroken chain to the last checkpoint starts)", type="category")
    fig.update_yaxes(title_text="features appearing", secondary_y=False)
    fig.update_yaxes(title_text="share of final features", range=[0, 1.05], secondary_y=True)
    fig.update_layout(title=f"when the last dictionary's {timeline.n_tracks} features appear{phase_note(phase)}", height=420)
    return fig


def sharpening_figure(
    timeline: FeatureTimeline, tracks: Sequence[int] | None = None, *, n: int = TOP_TRACKS, phase: PhaseChange | None = None
) -> go.Figure:
    """Decoder cosine to the final direction vs step for a few tracks (default `timeline.top_tracks(n)`): solid
    along the track's chain, dotted for the nearest feature of each checkpoint (defined before the chain too)."""
    tracks = timeline.top_tracks(n) if tracks is None else list(tracks)
    keep = _positive(timeline)
    x = [timeline.steps[i] for i in keep]
    appear = timeline.appearance_step.tolist()
    fig = go.Figure()
    for number, track in enumerate(tracks):
        colour = PALETTE[number % len(PALETTE)]
        name = f"feature {track} (appears at step {appear[track]})"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=timeline.chain_cosine[track, keep].tolist(),
                mode="lines+markers",
                name=name,
                legendgroup=str(track),
                line={"color": colour},
                hovertemplate=f"{name}<br>step %{{x}}: cosine %{{y:.3f}}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=timeline.nearest_cosine[track, keep].tolist(),
                mode="lines",
                name=f"feature {track}: nearest feature",
                legendgroup=str(track),
                showlegend=False,
                line={"color": colour, "dash": "dot", "width": 1},
                hovertemplate=f"feature {track}, nearest feature<br>step %{{x}}: cosine %{{y:.3f}}<extra></extra>",
            )
        )
    fig.add_hline(y=timeline.threshold, line={"color": "#888", "dash": "dash", "width": 1})
    shade_steps(fig, phase)
    fig.update_layout(
        title=f"sharpening: decoder cosine to the final direction (dotted: nearest feature){phase_note(phase)}",
        xaxis={"title": "step", "type": "log"},
        yaxis={"title": "cosine to final direction", "range": [-0.05, 1.05]},
        height=440,
    )
    return fig


def token_feature_counts(timeline: FeatureTimeline, *, phase: PhaseChange | None = None) -> go.Figure:
    """Per checkpoint, how many of that dictionary's features the previous token explains and how many the
    current token explains (variance explained >= the timeline's cutoff)."""
    if not timeline.has_token_scores:
        raise DataError("this feature timeline has no token scores: build it with activations and tokens")
    keep = _positive(timeline)
    x = [timeline.steps[i] for i in keep]
    fig = go.Figure()
    for name, counts in (
        ("previous-token features", timeline.previous_token_features),
        ("current-token features", timeline.current_token_features),
    ):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=counts[keep].tolist(),
                mode="lines+markers",
                name=name,
                hovertemplate=f"step %{{x}}: %{{y}} {name}<extra></extra>",
            )
        )
    shade_steps(fig, phase)
    fig.update_layout(
        title=f"token features per checkpoint (variance explained >= {timeline.token_cutoff:g}){phase_note(phase)}",
        xaxis={"title": "step", "type": "log"},
        yaxis={"title": "features", "rangemode": "tozero"},
        height=420,
    )
    return fig


__all__ = ["appearance_histogram", "presence_figure", "shade_steps", "sharpening_figure", "token_feature_counts"]
