"""Plotly figures of a circuit timeline (interp.analysis.edges.timeline). Rendering only: every number was computed
by `circuit_timeline`.

The graph figure lays the model out by layer (input at the bottom, one row of heads and MLP per layer, logits on
top); an edge into a head ends at the head's q (bottom left), k (bottom centre) or v (bottom right) input and is
dotted, dashed or solid to match. A slider steps through the checkpoints. Curves over training are drawn against
tokens seen on a log axis, so the step-0 checkpoint (0 tokens) is left off them; the phase change is shaded.

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> from interp.analysis.edges.timeline import circuit_timeline
>>> from interp.tasks import induction_task
>>> checkpoints = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).checkpoints   # 1 s
>>> timeline = circuit_timeline(checkpoints, induction_task(16, n=8, half=4), method="eap")
>>> fig = circuit_graph(timeline)
>>> len(fig.layout.sliders[0].steps) == len(timeline.steps)          # one slider step per checkpoint
True
>>> [len(f.data) for f in (top_edge_curves(timeline), faithfulness_curve_figure(timeline))]
[8, 3]
"""

import math

import plotly.graph_objects as go
import torch
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from interp.analysis.edges.graph import Graph
from interp.analysis.edges.timeline import CircuitTimeline
from interp.analysis.induction.phase import PhaseChange
from interp.report.induction_figures import phase_note, shade_phase

POSITIVE, NEGATIVE = "#2166ac", "#b2182b"  # blue: the edge carries the behaviour; red: it works against it
DASHES = {"q": "dot", "k": "dash", "v": "solid", "other": "solid"}
PART_LABELS = {
    "q": "into a query (dotted, bottom left)",
    "k": "into a key (dashed, bottom centre)",
    "v": "into a value (solid, bottom right)",
    "other": "into an MLP or the logits (solid)",
}
WIDTHS = (1.0, 2.2, 3.6, 5.4, 8.0)  # line widths of the buckets of |effect| / the largest |effect| of the timeline
TOP_PER_CHECKPOINT = 30
UNRELIABLE = 0.1  # a checkpoint whose gap is below this share of the last checkpoint's gap
PALETTE = qualitative.Plotly + qualitative.D3
HALF_WIDTH, HALF_HEIGHT = 0.28, 0.16  # of a node box, in data units (one layer per unit of y)
MLP_RISE = 0.45  # an MLP sits a little above its layer's heads: it reads them


# ---- geometry of the graph ---------------------------------------------------------------------------------


def node_positions(graph: Graph) -> dict[str, tuple[float, float]]:
    """Centre of every node: input at y = 0, layer L's heads at y = L + 1 (head h at x = h), its MLP to their
    right, the logits at y = n_layers + 1."""
    centre = (graph.n_heads - 1) / 2
    nodes = {"input": (centre, 0.0), "logits": (centre, graph.n_layers + 1.0)}
    for layer in range(graph.n_layers):
        for head in range(graph.n_heads):
            nodes[f"L{layer}H{head}"] = (float(head), layer + 1.0)
        if not graph.attn_only:
            nodes[f"MLP{layer}"] = (graph.n_heads + 0.2, layer + 1.0 + MLP_RISE)
    return nodes


def receiver_part(name: str) -> str:
    """ "L1H0.k" -> "k"; MLPs and the logits -> "other"."""
    return name.rsplit(".", 1)[1] if "." in name else "other"


def entry_point(graph: Graph, receiver: int) -> tuple[float, float]:
    """Where an edge into `receiver` ends: a head's q, k and v inputs at its bottom left, centre and right."""
    name = graph.receivers[receiver]
    x, y = node_positions(graph)[graph.receiver_node(receiver)]
    offset = {"q": -0.65 * HALF_WIDTH, "k": 0.0, "v": 0.65 * HALF_WIDTH}.get(receiver_part(name), 0.0)
    return x + offset, y - HALF_HEIGHT


def edge_path(graph: Graph, edge: int) -> list[tuple[float, float]]:
    """Points of the drawn edge: straight between neighbouring rows; an edge that passes over rows in between is a
    quadratic curve through the gap between two columns nearest its middle, at half its height, so it runs between
    the nodes it passes rather than through them; a head's edge into its own layer's MLP arcs over the row."""
    receiver, sender = graph.edge_index[edge].tolist()
    x0, y0 = node_positions(graph)[graph.senders[sender]]
    y0 += HALF_HEIGHT
    x1, y1 = entry_point(graph, receiver)
    sender_name, receiver_name = graph.senders[sender], graph.receivers[receiver]
    if receiver_name.startswith("MLP") and sender_name.startswith(f"L{receiver_name[3:]}H"):  # a head into its own MLP
        cx, cy = (x0 + x1) / 2, max(y0, y1) + 0.4  # arc over the heads beside it
    elif y1 - y0 <= 1.0:
        return [(x0, y0), (x1, y1)]
    else:
        gaps = [h + 0.5 for h in range(-1, graph.n_heads)]
        gx = min(gaps, key=lambda g: (abs(g - (x0 + x1) / 2), g))
        gy = (y0 + y1) / 2
        cx, cy = 2 * gx - (x0 + x1) / 2, 2 * gy - (y0 + y1) / 2  # the curve passes (gx, gy) at its middle
    points = []
    for i in range(9):
        t = i / 8
        a, b, c = (1 - t) ** 2, 2 * t * (1 - t), t**2
        points.append((a * x0 + b * cx + c * x1, a * y0 + b * cy + c * y1))
    return points


# ---- what each frame draws ---------------------------------------------------------------------------------


def drawn_edges(timeline: CircuitTimeline, checkpoint: int, top: int = TOP_PER_CHECKPOINT) -> list[int]:
    """The last circuit's edges and the `top` edges of largest |score| at `checkpoint`, in edge order."""
    scores = timeline.scores[checkpoint].nan_to_num(0.0)
    keep = timeline.circuit.keep.clone()
    keep[scores.abs().argsort(descending=True, stable=True)[:top]] = True
    return keep.nonzero().flatten().tolist()


def width_buckets(timeline: CircuitTimeline) -> torch.Tensor:
    """[checkpoint edge] bucket (0 .. len(WIDTHS) - 1) of |effect| over the largest |effect| of the whole timeline:
    one scale for every checkpoint (effects are in metric units), so within a checkpoint the widths order the
    edges as their |score|, and across checkpoints a circuit that grows looks it."""
    size = timeline.effects.abs().nan_to_num(0.0)
    largest = float(size.max()) or 1.0
    return (size / largest * len(WIDTHS)).floor().clamp(max=len(WIDTHS) - 1).long()


def edge_signs(timeline: CircuitTimeline) -> torch.Tensor:
    """[checkpoint edge] +1 where the score is positive (the edge carries the behaviour), else -1."""
    return torch.where(timeline.scores.nan_to_num(0.0) >= 0, 1, -1)


TRACE_KEYS = [(sign, part, bucket) for sign in (1, -1) for part in DASHES for bucket in range(len(WIDTHS))]


def _round(value: float) -> float:
    return round(value, 3)


def _frame_traces(timeline: CircuitTimeline, checkpoint: int, top: int) -> list[dict]:
    """The edge traces (one per sign, part and width bucket; segments separated by None) and the hover markers."""
    graph = timeline.graph
    buckets, signs = width_buckets(timeline)[checkpoint], edge_signs(timeline)[checkpoint]
    scores, effects = timeline.scores[checkpoint], timeline.effects[checkpoint]
    groups: dict[tuple[int, str, int], dict[str, list]] = {key: {"x": [], "y": [], "meta": []} for key in TRACE_KEYS}
    hover = {"x": [], "y": [], "text": []}
    for edge in drawn_edges(timeline, checkpoint, top):
        receiver = int(graph.edge_index[edge, 0])
        key = (int(signs[edge]), receiver_part(graph.receivers[receiver]), int(buckets[edge]))
        points = edge_path(graph, edge)
        group = groups[key]
        group["x"] += [_round(x) for x, _ in points] + [None]
        group["y"] += [_round(y) for _, y in points] + [None]
        group["meta"].append(graph.edges[edge])
        mx, my = points[len(points) // 2] if len(points) > 2 else tuple((a + b) / 2 for a, b in zip(*points))
        hover["x"].append(_round(mx))
        hover["y"].append(_round(my))
        circuit = " (in the circuit)" if bool(timeline.circuit.keep[edge]) else ""
        hover["text"].append(
            f"{graph.edges[edge]}{circuit}: score {float(scores[edge]):+.3f}, effect {float(effects[edge]):+.4f}"
        )
    return [{"x": g["x"], "y": g["y"], "meta": g["meta"]} for g in groups.values()] + [hover]


def _tokens(value: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)


def gaps(timeline: CircuitTimeline) -> torch.Tensor:
    """The clean-corrupted gap of the metric at each checkpoint."""
    return timeline.metric_clean - timeline.metric_corrupted


def unreliable(timeline: CircuitTimeline) -> list[bool]:
    """Per checkpoint: whether its gap is below UNRELIABLE of the last checkpoint's (its scores and faithfulness
    divide by a small number)."""
    gap = gaps(timeline).abs()
    return (gap < UNRELIABLE * float(gap[-1])).tolist()


def _frame_title(timeline: CircuitTimeline, checkpoint: int, n_drawn: int) -> str:
    gap = float(gaps(timeline)[checkpoint])
    warning = " — small gap: scores unreliable" if unreliable(timeline)[checkpoint] else ""
    return (
        f"edges at step {timeline.steps[checkpoint]} ({_tokens(timeline.tokens_seen[checkpoint])} tokens): "
        f"{n_drawn} drawn, gap {gap:.3f}{warning}"
    )


def circuit_graph(timeline: CircuitTimeline, *, top: int = TOP_PER_CHECKPOINT) -> go.Figure:
    """The graph with the last circuit's edges and each checkpoint's `top` edges, width by |effect| (one scale for
    all checkpoints), colour by the sign of the score; a slider over the checkpoints."""
    graph = timeline.graph
    nodes = node_positions(graph)
    frames_data = [_frame_traces(timeline, i, top) for i in range(len(timeline.steps))]  # one per checkpoint
    last = frames_data[-1]

    fig = go.Figure()
    for (sign, part, bucket), trace in zip(TRACE_KEYS, last):
        fig.add_trace(
            go.Scatter(
                x=trace["x"],
                y=trace["y"],
                meta=trace["meta"],
                mode="lines",
                line={"color": POSITIVE if sign > 0 else NEGATIVE, "width": WIDTHS[bucket], "dash": DASHES[part]},
                opacity=0.85,
                hoverinfo="skip",
                showlegend=False,
                name=f"{'+' if sign > 0 else '-'} {part} width {WIDTHS[bucket]}",
            )
        )
    hover = last[-1]
    fig.add_trace(
        go.Scatter(
            x=hover["x"],
            y=hover["y"],
            text=hover["text"],
            mode="markers",
            marker={"size": 9, "color": "rgba(0, 0, 0, 0)"},
            hovertemplate="%{text}<extra></extra>",
            showlegend=False,
            name="edges",
        )
    )
    names = list(nodes)
    fig.add_trace(
        go.Scatter(
            x=[nodes[n][0] for n in names],
            y=[nodes[n][1] + (0.04 if n.startswith("L") else 0.0) for n in names],
            text=names,
            mode="text",
            textfont={"size": 11},
            hoverinfo="skip",
            showlegend=False,
            name="nodes",
        )
    )
    heads = [n for n in names if n.startswith("L")]
    letters = [
        (nodes[h][0] + dx * HALF_WIDTH, nodes[h][1] - 0.09, part) for h in heads for part, dx in zip("qkv", (-0.65, 0.0, 0.65))
    ]
    fig.add_trace(
        go.Scatter(
            x=[x for x, _, _ in letters],
            y=[y for _, y, _ in letters],
            text=[p for _, _, p in letters],
            mode="text",
            textfont={"size": 8, "color": "#777"},
            hoverinfo="skip",
            showlegend=False,
            name="inputs",
        )
    )
    for sign, label in ((1, "score > 0: carries the behaviour"), (-1, "score < 0: works against it")):
        fig.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="lines", name=label, line={"color": POSITIVE if sign > 0 else NEGATIVE, "width": 4}
            )
        )
    for part, label in PART_LABELS.items():
        if part == "other" and graph.attn_only:
            label = "into the logits (solid)"
        fig.add_trace(
            go.Scatter(x=[None], y=[None], mode="lines", name=label, line={"color": "#555", "width": 2, "dash": DASHES[part]})
        )

    shapes = []
    for name, (x, y) in nodes.items():
        half = HALF_WIDTH if name.startswith(("L", "MLP")) else 1.2 * HALF_WIDTH + 0.3 * graph.n_heads
        fill = "#f3f3f6" if name.startswith("L") else "#e6eef7" if name.startswith("MLP") else "#eee8dc"
        shapes.append(
            {
                "type": "rect",
                "x0": x - half,
                "x1": x + half,
                "y0": y - HALF_HEIGHT,
                "y1": y + HALF_HEIGHT,
                "line": {"color": "#999", "width": 1},
                "fillcolor": fill,
                "layer": "below",
            }
        )

    # Each slider step restyles the edge and hover traces with its checkpoint's segments (method "update": the page
    # carries figures' data and layout, no animation frames).
    changed = list(range(len(TRACE_KEYS) + 1))
    steps = []
    for i, data in enumerate(frames_data):
        restyle = {
            "x": [d["x"] for d in data],
            "y": [d["y"] for d in data],
            "meta": [d.get("meta") for d in data],
            "text": [d.get("text") for d in data],
        }
        steps.append(
            {
                "label": f"{timeline.steps[i]} · {_tokens(timeline.tokens_seen[i])}",
                "method": "update",
                "args": [restyle, {"title.text": _frame_title(timeline, i, len(data[-1]["x"]))}, changed],
            }
        )
    width_span = graph.n_heads + (1.2 if not graph.attn_only else 0.0)
    fig.update_layout(
        title={"text": _frame_title(timeline, len(frames_data) - 1, len(last[-1]["x"]))},
        shapes=shapes,
        xaxis={"visible": False, "range": [-0.7, width_span - 0.3], "fixedrange": True},
        yaxis={"visible": False, "range": [-0.35, graph.n_layers + 1.35], "fixedrange": True},
        height=max(420, 130 * (graph.n_layers + 2) + 170),
        margin={"t": 50, "b": 10, "l": 10, "r": 10},
        plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.02, "yanchor": "top", "font": {"size": 11}},
        sliders=[
            {
                "active": len(steps) - 1,
                "steps": steps,
                "currentvalue": {"prefix": "step · tokens seen: ", "font": {"size": 12}},
                "font": {"size": 8},
                "pad": {"t": 70},
            }
        ],
    )
    return fig


# ---- curves over training ----------------------------------------------------------------------------------


def _positive(timeline: CircuitTimeline) -> list[int]:
    """Indices of checkpoints that can sit on a log axis."""
    return [i for i, t in enumerate(timeline.tokens_seen) if t > 0]


def top_edge_curves(timeline: CircuitTimeline, *, k: int = 8, phase: PhaseChange | None = None) -> go.Figure:
    """The effect (metric units) of the last checkpoint's k top edges against tokens seen; dash by receiver part."""
    keep = _positive(timeline)
    x = [timeline.tokens_seen[i] for i in keep]
    fig = go.Figure()
    for rank, edge in enumerate(timeline.top_edges(k)):
        name = timeline.graph.edges[edge]
        part = receiver_part(name.split("->")[1])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=timeline.effects[keep, edge].tolist(),
                customdata=[[timeline.steps[i], float(timeline.scores[i, edge])] for i in keep],
                mode="lines+markers",
                name=name,
                marker={"size": 5},
                line={"color": PALETTE[rank % len(PALETTE)], "dash": DASHES[part]},
                hovertemplate=f"{name}<br>step %{{customdata[0]}}: effect %{{y:.4f}}, score %{{customdata[1]:.3f}}<extra></extra>",
            )
        )
    shade_phase(fig, phase)
    fig.add_hline(y=0, line_color="#bbb", line_width=1)
    fig.update_layout(
        title=f"the {k} top edges of step {timeline.steps[-1]} across training{phase_note(phase)}",
        xaxis={"title": "tokens seen", "type": "log"},
        yaxis={"title": "effect on the metric (metric units, not shares of the gap)"},
        height=440,
    )
    return fig


def faithfulness_over_training(timeline: CircuitTimeline, *, phase: PhaseChange | None = None) -> go.Figure:
    """Top: the last circuit's faithfulness at every checkpoint (hollow: the gap is < 10% of the last one's, so the
    ratio is unreliable; points off the axis are drawn at its edge as triangles). Bottom: the metric of the full
    model, the corrupted run and the circuit, in metric units."""
    keep = _positive(timeline)
    x = [timeline.tokens_seen[i] for i in keep]
    faith = timeline.circuit_faithfulness
    weak = unreliable(timeline)
    steady = [float(faith[i]) for i in keep if not weak[i] and math.isfinite(float(faith[i]))]
    low = min([0.0, timeline.target, *steady]) - 0.15
    high = max([1.0, timeline.target, *steady]) + 0.15

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=[
            f"faithfulness of step {timeline.steps[-1]}'s circuit ({timeline.circuit.n_edges} edges)",
            "the metric (metric units)",
        ],
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[None if weak[i] else float(faith[i]) for i in keep],
            mode="lines+markers",
            name="faithfulness",
            marker={"size": 7, "color": POSITIVE},
            line={"color": POSITIVE},
            customdata=[[timeline.steps[i]] for i in keep],
            hovertemplate="step %{customdata[0]}: faithfulness %{y:.3f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    shaky = [i for i in keep if weak[i]]
    values = [float(faith[i]) for i in shaky]
    shown = [min(max(v, low), high) if math.isfinite(v) else None for v in values]
    symbols = ["triangle-up-open" if v > high else "triangle-down-open" if v < low else "circle-open" for v in values]
    fig.add_trace(
        go.Scatter(
            x=[timeline.tokens_seen[i] for i in shaky],
            y=shown,
            mode="markers",
            name=f"gap < {UNRELIABLE:.0%} of the last: unreliable",
            cliponaxis=False,
            marker={"size": 8, "color": POSITIVE, "symbol": symbols},
            customdata=[[timeline.steps[i], v, float(gaps(timeline)[i])] for i, v in zip(shaky, values)],
            hovertemplate="step %{customdata[0]}: faithfulness %{customdata[1]:.3f} (gap %{customdata[2]:.4f})<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_hline(y=1.0, line_color="#999", line_dash="dot", row=1, col=1)
    fig.add_hline(y=timeline.target, line_color="#2a9d8f", line_dash="dash", row=1, col=1)
    fig.add_annotation(
        x=1,
        xref="x domain",
        y=timeline.target,
        yref="y",
        text=f"target {timeline.target:g}",
        showarrow=False,
        xanchor="right",
        yanchor="bottom",
        font={"size": 10, "color": "#2a9d8f"},
    )

    lines = (
        ("full model (clean)", timeline.metric_clean, "#333", "solid"),
        ("corrupted", timeline.metric_corrupted, "#999", "dot"),
        ("circuit", timeline.metric_circuit, POSITIVE, "solid"),
    )
    for name, series, colour, dash in lines:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=series[keep].tolist(),
                mode="lines+markers",
                name=name,
                marker={"size": 5, "symbol": ["circle-open" if weak[i] else "circle" for i in keep]},
                line={"color": colour, "dash": dash},
                customdata=[[timeline.steps[i]] for i in keep],
                hovertemplate=f"{name}, step %{{customdata[0]}}: %{{y:.4f}}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    for row in (1, 2):
        shade_phase(fig, phase, row=row, col=1)
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_xaxes(type="log", title_text="tokens seen", row=2, col=1)
    fig.update_yaxes(title_text="faithfulness", range=[low, high], row=1, col=1)
    fig.update_yaxes(title_text="metric (e.g. logit difference)", row=2, col=1)
    fig.update_layout(title=f"the circuit across training{phase_note(phase)}", height=640)
    return fig


def faithfulness_curve_figure(timeline: CircuitTimeline) -> go.Figure:
    """Faithfulness of the last checkpoint's pruned top-k circuits against the fraction of edges kept, the target,
    and the chosen circuit; CPR and CMD in the title."""
    curve = timeline.curve
    order = curve.fractions.argsort(stable=True).tolist()
    n_edges = timeline.graph.n_edges
    chosen = next((i for i, c in enumerate(curve.circuits) if torch.equal(c.keep, timeline.circuit.keep)), None)
    fig = go.Figure(
        go.Scatter(
            x=curve.fractions[order].tolist(),
            y=curve.faithfulness[order].tolist(),
            customdata=[[float(curve.requested[i]), curve.circuits[i].n_edges] for i in order],
            mode="lines+markers",
            name="pruned top-k circuits",
            line={"color": POSITIVE},
            hovertemplate=f"%{{customdata[1]}} of {n_edges} edges (asked %{{customdata[0]:.3f}}): faithfulness %{{y:.3f}}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[timeline.target, timeline.target],
            mode="lines",
            name=f"target {timeline.target:g}",
            line={"color": "#2a9d8f", "dash": "dash"},
            hoverinfo="skip",
        )
    )
    if chosen is not None:
        fig.add_trace(
            go.Scatter(
                x=[float(curve.fractions[chosen])],
                y=[float(curve.faithfulness[chosen])],
                mode="markers",
                name=f"the circuit ({timeline.circuit.n_edges} edges)",
                marker={"symbol": "star", "size": 14, "color": "#f4a261", "line": {"color": "#333", "width": 1}},
                hovertemplate="the circuit: %{x:.3f} of the edges, faithfulness %{y:.3f}<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"faithfulness vs circuit size at step {timeline.steps[-1]}: CPR {curve.cpr:.3f} (area under; higher is better), "
        f"CMD {curve.cmd:.3f} (area between it and 1; lower is better)",
        xaxis={"title": "fraction of edges kept (after pruning)", "range": [-0.02, 1.02]},
        yaxis={"title": "faithfulness"},
        height=420,
        title_font={"size": 14},
    )
    return fig
