"""Plotly figures for QK/OV circuits and composition scores. Rendering only: matrices come from `interp.analysis.circuits.qk_ov`.

>>> from interp.analysis.circuits.qk_ov import circuit_weights, composition_scores, full_ov_circuit
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> w = circuit_weights(model)
>>> fig = composition_heatmap(composition_scores(w, "K"), "K", baseline=0.12)
>>> chars = list("abcdefghijk")                                 # one label per token of the vocabulary
>>> fig = circuit_heatmap(full_ov_circuit(w).AB[1, 0], x_labels=chars, y_labels=chars, title="L1H0 OV")
>>> fig.layout.title.text
'L1H0 OV'
"""

from collections.abc import Sequence

import plotly.graph_objects as go
from jaxtyping import Float
from torch import Tensor

COMPOSITION_TITLES = {
    "Q": "Q-composition: source head output read by the query",
    "K": "K-composition: source head output read by the key",
    "V": "V-composition: source head output read by the value",
}


def composition_heatmap(
    scores: Float[Tensor, "source_layer source_head layer head"], kind: str, *, baseline: float | None = None
) -> go.Figure:
    """Rows: source heads; columns: heads of later layers; only pairs with source layer < layer are shown."""
    n_layers, n_heads = scores.shape[:2]
    sources = [(layer, h) for layer in range(n_layers - 1) for h in range(n_heads)]
    targets = [(layer, h) for layer in range(1, n_layers) for h in range(n_heads)]
    z = [[float(scores[sl, sh, layer, h]) if sl < layer else None for (layer, h) in targets] for (sl, sh) in sources]
    title = COMPOSITION_TITLES.get(kind, f"{kind}-composition")
    if baseline is not None:
        title += f" (random baseline {baseline:.3f})"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"L{layer}H{h}" for layer, h in targets],
            y=[f"L{layer}H{h}" for layer, h in sources],
            colorscale="Viridis",
            zmin=0,
            texttemplate="%{z:.2f}",
            colorbar={"title": "score"},
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"title": "reading head"},
        yaxis={"title": "writing head", "autorange": "reversed"},
        height=180 + 35 * len(sources),
    )
    return fig


def head_heatmap(values: Float[Tensor, "layer head"], *, title: str, diverging: bool = True) -> go.Figure:
    """A [layer x head] table of one score (e.g. OV copying scores in [-1, 1])."""
    fig = go.Figure(
        go.Heatmap(
            z=values.tolist(),
            x=[f"H{h}" for h in range(values.shape[1])],
            y=[f"L{layer}" for layer in range(values.shape[0])],
            colorscale="RdBu" if diverging else "Blues",
            reversescale=diverging,
            zmin=-1 if diverging else 0,
            zmax=1,
            texttemplate="%{z:.2f}",
        )
    )
    fig.update_layout(title=title, yaxis={"autorange": "reversed"}, height=160 + 50 * values.shape[0])
    return fig


def circuit_heatmap(
    matrix: Float[Tensor, "row column"],
    *,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    title: str,
    x_title: str = "",
    y_title: str = "",
    causal: bool = False,
) -> go.Figure:
    """A circuit matrix (e.g. full OV [source token, logit]) with a colour scale symmetric around 0.

    `causal=True` (positional QK) leaves out the cells above the diagonal: keys after the query are masked.
    """
    z = [[v if not causal or j <= i else None for j, v in enumerate(row)] for i, row in enumerate(matrix.tolist())]
    bound = max((abs(v) for row in z for v in row if v is not None), default=0.0) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(x_labels) if x_labels is not None else None,
            y=list(y_labels) if y_labels is not None else None,
            colorscale="RdBu",
            reversescale=True,
            zmin=-bound,
            zmax=bound,
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"title": x_title, "type": "category" if x_labels is not None else "linear", "tickfont": {"size": 9}},
        yaxis={
            "title": y_title,
            "type": "category" if y_labels is not None else "linear",
            "autorange": "reversed",
            "tickfont": {"size": 9},
        },
        height=650,
        width=700,
    )
    return fig
