"""The offline HTML page of a circuit timeline, and the same section inside the run report.

`add_circuit_section(page, timeline, phase)` adds the heading, an explanation, the graph with its slider over
checkpoints, the top edges over training, the circuit's faithfulness over training, the faithfulness-vs-size curve
and a table of the circuit's edges; `circuit_timeline_page` is a page holding just that section.

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> from interp.analysis.edges.timeline import circuit_timeline
>>> from interp.tasks import induction_task
>>> checkpoints = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).checkpoints   # 1 s
>>> timeline = circuit_timeline(checkpoints, induction_task(16, n=8, half=4), method="eap")
>>> page = circuit_timeline_page(timeline, title="Induction circuit", subtitle="tiny run")
>>> page.write(Path(tempfile.mkdtemp()) / "circuit.html").name
'circuit.html'
"""

from interp.analysis.edges.timeline import CircuitTimeline
from interp.analysis.induction.phase import PhaseChange
from interp.report import circuit_timeline_figures as ctf
from interp.report.html import Page

METHOD_NAMES = {
    "exact": "exact edge patching (each edge's sender output replaced by the corrupted run's, one edge at a time)",
    "eap": "edge attribution patching (one gradient: a first-order estimate of patching each edge)",
    "eap-ig-inputs": "edge attribution patching with integrated gradients (gradients averaged along a path from the "
    "corrupted to the clean input embedding)",
    "eap-ig-edges": "edge attribution patching with integrated gradients (gradients averaged while every edge moves "
    "from its corrupted to its clean value at once)",
    "acdc": "ACDC (greedy pruning with exact patching)",
}
TOP_CURVES = 8


def explanation(timeline: CircuitTimeline) -> str:
    """One paragraph: the method and what the numbers mean."""
    method = METHOD_NAMES.get(timeline.method, timeline.method)
    return (
        f"Every edge of the model's graph (from the input, each head and MLP to each later head's query, key or value "
        f"input, each MLP and the logits; {timeline.graph.n_edges} edges) was scored at {len(timeline.steps)} checkpoints "
        f"by {method}. The task compares clean prompts with corrupted ones through a metric (for the built-in tasks a "
        "logit difference); its clean-corrupted gap is what the behaviour is worth. An edge's effect is how much the "
        "metric moves when that edge alone carries the corrupted run's value, in metric units; its score is that effect "
        "as a share of the gap (1: the edge carries all of it; negative: the edge works against the behaviour). The "
        f"circuit is taken at the last checkpoint (step {timeline.steps[-1]}): the smallest top-k set of edges by |score|, "
        f"pruned of edges that lie on no path from the input to the logits, whose faithfulness reaches {timeline.target:g}. "
        "Faithfulness = (metric with every edge outside the circuit corrupted − corrupted metric) / (clean metric − "
        "corrupted metric): 1 is the full model, 0 the corrupted run. Early in training the gap is small, so scores and "
        "faithfulness divide by a small number; the metric itself is shown in metric units next to it."
    )


def summary(timeline: CircuitTimeline) -> str:
    circuit, curve = timeline.circuit, timeline.curve
    reached = curve.smallest(timeline.target) is not None
    how = (
        f"the smallest circuit of the curve reaching faithfulness {timeline.target:g}"
        if reached
        else f"no circuit of the curve reaches {timeline.target:g}; this is the most faithful one"
    )
    first, last = float(timeline.circuit_faithfulness[0]), float(timeline.circuit_faithfulness[-1])
    shaky = " (unreliable: the gap there is small)" if ctf.unreliable(timeline)[0] else ""
    return (
        f"Circuit of step {timeline.steps[-1]}: {circuit.n_edges} of {timeline.graph.n_edges} edges ({circuit.fraction:.0%}), "
        f"{how}. Its faithfulness is {last:.3f} there and {first:.3f}{shaky} at step {timeline.steps[0]}. Faithfulness-vs-size "
        f"curve: CPR {curve.cpr:.3f}, CMD {curve.cmd:.3f}. Computed in {timeline.seconds:.1f} s."
    )


def circuit_rows(timeline: CircuitTimeline) -> list[dict]:
    """The last circuit's edges, largest |score| first, with their score and effect at the last checkpoint."""
    graph, scores, effects = timeline.graph, timeline.scores[-1], timeline.effects[-1]
    edges = sorted(timeline.circuit.keep.nonzero().flatten().tolist(), key=lambda e: -abs(float(scores[e])))
    rows = []
    for edge in edges:
        sender, receiver = graph.edges[edge].split("->")
        rows.append(
            {
                "edge": graph.edges[edge],
                "from": sender,
                "into": receiver,
                "score (share of the gap)": float(scores[edge]),
                "effect (metric units)": float(effects[edge]),
            }
        )
    return rows


def add_circuit_section(page: Page, timeline: CircuitTimeline, phase: PhaseChange | None = None) -> None:
    """Add the circuit timeline's section to `page`."""
    page.heading(f"Circuit across training ({timeline.method})")
    page.text(explanation(timeline))
    page.text(summary(timeline))
    page.figure(
        ctf.circuit_graph(timeline),
        caption=f"The graph by layer, input at the bottom. Drawn at each checkpoint: the circuit's "
        f"{timeline.circuit.n_edges} edges and the {ctf.TOP_PER_CHECKPOINT} edges of largest |score| there. Width: "
        "|effect| on one scale for all checkpoints (so a circuit that forms grows thicker); colour: the sign of the score. "
        "Hover an edge's middle for its numbers; the slider steps through the checkpoints (step · tokens seen).",
    )
    page.figure(
        ctf.top_edge_curves(timeline, k=TOP_CURVES, phase=phase),
        caption=f"Effect of the last checkpoint's {TOP_CURVES} top edges (by |score|) at every checkpoint, in metric units "
        "(comparable across checkpoints, unlike scores, whose gap changes). Dash as in the graph: dotted into a query, "
        "dashed into a key, solid into a value or the logits. The step-0 checkpoint (0 tokens) is off the log axis.",
    )
    page.figure(
        ctf.faithfulness_over_training(timeline, phase=phase),
        caption="Top: faithfulness of the last checkpoint's circuit at every checkpoint; hollow markers where the "
        f"clean-corrupted gap is below {ctf.UNRELIABLE:.0%} of the last checkpoint's (the ratio divides by a small gap; "
        "triangles: off the axis, hover for the value). Bottom: the metric of the full model, the corrupted run and "
        "the circuit, in metric units.",
    )
    page.figure(
        ctf.faithfulness_curve_figure(timeline),
        caption="Faithfulness of the top-k circuits (pruned) of the last checkpoint's scores against the share of edges "
        "they keep; the star is the circuit followed above. CPR: area under the curve; CMD: area between it and 1.",
    )
    page.table(
        circuit_rows(timeline),
        columns=["edge", "from", "into", "score (share of the gap)", "effect (metric units)"],
        digits=4,
    )


def circuit_timeline_page(timeline: CircuitTimeline, *, title: str, subtitle: str = "", phase: PhaseChange | None = None) -> Page:
    """A page holding the circuit timeline's section."""
    page = Page(title, subtitle=subtitle)
    add_circuit_section(page, timeline, phase)
    return page
