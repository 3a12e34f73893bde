"""The circuit-timeline figures and page, checked against the numbers of a planted timeline (chosen by hand, so
every expected value is known), and the page opened offline in headless Chromium."""

import dataclasses
import math
import tempfile
from pathlib import Path

import pytest
import torch
from helpers.browser import CHROMIUM_ARGS, chromium_path, outside_requests, visit

from interp.analysis.edges.circuit import Circuit
from interp.analysis.edges.faithfulness import FaithfulnessCurve
from interp.analysis.edges.graph import Graph
from interp.analysis.edges.timeline import CircuitTimeline
from interp.analysis.induction.phase import PhaseChange
from interp.report import circuit_timeline_figures as ctf
from interp.report.circuit_timeline_page import add_circuit_section, circuit_rows, circuit_timeline_page, summary
from interp.report.html import Page

GRAPH = Graph(n_layers=2, n_heads=2, attn_only=True)  # 29 edges
STEPS = (0, 10, 100, 1000, 2000, 4000)
TOKENS = (0, 1_000, 10_000, 100_000, 200_000, 400_000)
TOP = 5


def planted_timeline(attn_only: bool = True) -> CircuitTimeline:
    graph = GRAPH if attn_only else Graph(n_layers=2, n_heads=2, attn_only=False)
    generator = torch.Generator().manual_seed(0)
    effects = torch.randn(len(STEPS), graph.n_edges, generator=generator) * torch.linspace(0.01, 1.0, len(STEPS))[:, None]
    clean = torch.tensor([0.30, 0.01, 0.50, 1.20, 2.00, 2.50])
    # checkpoint 1's gap (-0.01: the corrupted run scores higher) is < 10% of the last (2.5) and flips scores' signs
    corrupted = torch.tensor([0.10, 0.02, 0.00, 0.10, 0.00, 0.00])
    circuit_value = torch.tensor([0.20, 0.30, 0.40, 1.00, 1.60, 2.20])
    scores_last = effects[-1] / (clean[-1] - corrupted[-1])
    circuit = Circuit.top_k(graph, scores_last, 7)
    fractions = (0.0, 0.1, 0.25, 0.5, 1.0)
    circuits = tuple(Circuit.top_k(graph, scores_last, round(f * graph.n_edges)) for f in fractions)
    circuits = circuits[:2] + (circuit,) + circuits[3:]
    curve = FaithfulnessCurve(
        requested=torch.tensor(fractions),
        fractions=torch.tensor([c.fraction for c in circuits]),
        faithfulness=torch.tensor([0.0, 0.45, 0.88, 0.95, 1.0]),
        rows=torch.zeros(len(fractions), 4),
        circuits=circuits,
    )
    return CircuitTimeline(
        graph=graph,
        method="eap-ig-inputs",
        steps=STEPS,
        tokens_seen=TOKENS,
        effects=effects,
        metric_clean=clean,
        metric_corrupted=corrupted,
        metric_circuit=circuit_value,
        circuit=circuit,
        curve=curve,
        target=0.8,
        seconds=1.5,
    )


def planted_phase(detected: bool = True) -> PhaseChange:
    nan = math.nan
    return PhaseChange(
        detected=detected,
        start_step=100 if detected else None,
        end_step=1000 if detected else None,
        start_tokens=10_000 if detected else None,
        end_tokens=100_000 if detected else None,
        score_before=0.1,
        score_after=0.8,
        rise=0.7,
        head=(1, 0),
        induction_loss_before=nan,
        induction_loss_after=nan,
        icl_before=nan,
        icl_after=nan,
        min_rise=0.2,
        message="planted",
    )


@pytest.fixture(scope="module")
def timeline() -> CircuitTimeline:
    return planted_timeline()


def slider_states(fig) -> list[dict[str, list]]:
    """Per slider step: for each edge trace (the first len(TRACE_KEYS)), its x, y and edge names."""
    states = []
    for step in fig.layout.sliders[0].steps:
        restyle, _, traces = step.args
        n = len(ctf.TRACE_KEYS)
        assert list(traces) == list(range(n + 1))
        states.append({"x": restyle["x"][:n], "y": restyle["y"][:n], "meta": restyle["meta"][:n], "hover": restyle["text"][n]})
    return states


def drawn_widths(fig, state: dict) -> dict[str, tuple[float, str, str]]:
    """edge name -> (line width, colour, dash) in one slider state."""
    out = {}
    for trace, names in zip(fig.data[: len(ctf.TRACE_KEYS)], state["meta"]):
        for name in names or []:
            assert name not in out, f"{name} drawn twice"
            out[name] = (trace.line.width, trace.line.color, trace.line.dash)
    return out


def test_the_slider_has_one_step_per_checkpoint_labelled_by_step_and_tokens(timeline):
    fig = ctf.circuit_graph(timeline, top=TOP)
    slider = fig.layout.sliders[0]
    assert len(slider.steps) == len(STEPS) and slider.active == len(STEPS) - 1
    assert [s.label for s in slider.steps] == ["0 · 0", "10 · 1k", "100 · 10k", "1000 · 100k", "2000 · 200k", "4000 · 400k"]
    assert "small gap: scores unreliable" in slider.steps[1].args[1]["title.text"]
    assert "unreliable" not in slider.steps[-1].args[1]["title.text"]


def test_each_checkpoint_draws_the_circuit_and_its_top_edges(timeline):
    fig = ctf.circuit_graph(timeline, top=TOP)
    states = slider_states(fig)
    for index, state in enumerate(states):
        top = set(timeline.scores[index].abs().argsort(descending=True)[:TOP].tolist())
        expected = {GRAPH.edges[e] for e in top} | set(timeline.circuit.edge_names)
        assert set(drawn_widths(fig, state)) == expected
        assert len(state["hover"]) == len(expected)
    # The figure opens on the last checkpoint.
    assert [list(t.x) for t in fig.data[: len(ctf.TRACE_KEYS)]] == states[-1]["x"]


def test_widths_follow_the_scores_and_colours_their_sign(timeline):
    fig = ctf.circuit_graph(timeline, top=TOP)
    largest = timeline.effects.abs().max()
    for index, state in enumerate(slider_states(fig)):
        drawn = drawn_widths(fig, state)
        by_size = sorted(drawn, key=lambda name: float(timeline.scores[index, GRAPH.edge(name)].abs()))
        widths = [drawn[name][0] for name in by_size]
        assert widths == sorted(widths), f"checkpoint {index}: widths out of order"
        for name, (width, colour, _) in drawn.items():
            score = float(timeline.scores[index, GRAPH.edge(name)])
            assert colour == (ctf.POSITIVE if score >= 0 else ctf.NEGATIVE)
            if timeline.effects[index, GRAPH.edge(name)].abs() == largest:
                assert width == max(ctf.WIDTHS)
    # One scale across checkpoints: the first checkpoint's effects are ~1% of the last's, so all its edges are thinnest.
    assert {w for w, _, _ in drawn_widths(fig, slider_states(fig)[0]).values()} == {min(ctf.WIDTHS)}


def test_edges_into_q_k_and_v_end_at_distinct_points_and_are_styled_by_part(timeline):
    fig = ctf.circuit_graph(timeline, top=GRAPH.n_edges)  # every edge
    state = slider_states(fig)[-1]
    ends = {}
    for trace, xs, ys, names in zip(fig.data, state["x"], state["y"], state["meta"]):
        segments, current = [], []
        for x, y in zip(xs, ys):
            if x is None:
                segments.append(current)
                current = []
            else:
                current.append((x, y))
        assert len(segments) == len(names or [])
        for name, segment in zip(names or [], segments):
            part = name.split(".")[-1] if "." in name else "other"
            assert trace.line.dash == ctf.DASHES[part]
            ends[name] = segment[-1]
    assert len(ends) == GRAPH.n_edges
    q, k, v = (ends[f"input->L1H0.{part}"] for part in "qkv")
    assert q[0] < k[0] < v[0] and q[1] == k[1] == v[1]
    assert ends["L0H0->L1H0.q"] == q and ends["L0H1->L1H0.v"] == v  # every edge into a part ends at the same point
    legend = {t.name for t in fig.data if t.showlegend is not False}
    assert {ctf.PART_LABELS[p] for p in "qkv"} <= legend


def test_an_mlp_graph_places_each_mlp_in_its_layer_row(timeline):
    mlp = planted_timeline(attn_only=False)
    nodes = ctf.node_positions(mlp.graph)
    assert nodes["MLP0"][1] > nodes["L0H0"][1] and nodes["MLP0"][1] < nodes["L1H0"][1]
    # A head's edge into its own MLP arcs over the heads between them; MLP0's edge into the next layer is straight.
    arc = ctf.edge_path(mlp.graph, mlp.graph.edge("L0H0->MLP0"))
    assert min(y for x, y in arc if 0.5 < x < 1.5) > nodes["L0H1"][1] + ctf.HALF_HEIGHT
    assert len(ctf.edge_path(mlp.graph, mlp.graph.edge("MLP0->L1H0.q"))) == 2
    fig = ctf.circuit_graph(mlp, top=mlp.graph.n_edges)
    assert set(drawn_widths(fig, slider_states(fig)[-1])) == set(mlp.graph.edges)


def test_top_edge_curves_are_the_effects_of_the_last_checkpoints_top_edges(timeline):
    fig = ctf.top_edge_curves(timeline, k=4, phase=planted_phase())
    order = sorted(range(GRAPH.n_edges), key=lambda e: -float(timeline.scores[-1, e].abs()))[:4]
    assert [t.name for t in fig.data] == [GRAPH.edges[e] for e in order]
    for trace, edge in zip(fig.data, order):
        assert list(trace.x) == list(TOKENS[1:])  # tokens seen 0 cannot sit on the log axis
        assert torch.allclose(torch.tensor(trace.y), timeline.effects[1:, edge])
    assert fig.layout.xaxis.type == "log" and "metric units" in fig.layout.yaxis.title.text
    shaded = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.x1) for s in shaded] == [(10_000, 100_000)]
    assert not [s for s in ctf.top_edge_curves(timeline, phase=planted_phase(False)).layout.shapes if s.type == "rect"]
    assert not [s for s in ctf.top_edge_curves(timeline).layout.shapes if s.type == "rect"]


def test_faithfulness_over_training_marks_small_gaps_unreliable(timeline):
    fig = ctf.faithfulness_over_training(timeline, phase=planted_phase())
    faith = timeline.circuit_faithfulness
    steady, shaky, clean, corrupted, circuit = fig.data
    # checkpoint 1 (gap 0.01 < 10% of 2.5) is hollow; the rest are drawn as they are.
    assert list(shaky.x) == [TOKENS[1]] and shaky.customdata[0][1] == pytest.approx(float(faith[1]))
    assert steady.y[0] is None and list(steady.y[1:]) == pytest.approx(faith[2:].tolist())
    low, high = fig.layout.yaxis.range
    assert low <= 0 and high >= 1 and shaky.y[0] == pytest.approx(min(max(float(faith[1]), low), high))
    assert list(clean.y) == pytest.approx(timeline.metric_clean[1:].tolist())
    assert list(corrupted.y) == pytest.approx(timeline.metric_corrupted[1:].tolist())
    assert list(circuit.y) == pytest.approx(timeline.metric_circuit[1:].tolist())
    assert list(circuit.marker.symbol) == ["circle-open", "circle", "circle", "circle", "circle"]
    assert len([s for s in fig.layout.shapes if s.type == "rect"]) == 2  # the phase shaded on both panels


def test_the_curve_figure_shows_the_curve_its_areas_and_the_target(timeline):
    fig = ctf.faithfulness_curve_figure(timeline)
    curve = timeline.curve
    points, target, chosen = fig.data
    order = curve.fractions.argsort(stable=True)
    assert list(points.x) == pytest.approx(curve.fractions[order].tolist())
    assert list(points.y) == pytest.approx(curve.faithfulness[order].tolist())
    assert f"CPR {curve.cpr:.3f}" in fig.layout.title.text and f"CMD {curve.cmd:.3f}" in fig.layout.title.text
    assert list(target.y) == [0.8, 0.8]
    low, high = fig.layout.xaxis.range
    assert low < 0 and high > 1
    assert chosen.x[0] == pytest.approx(timeline.circuit.fraction) and chosen.y[0] == pytest.approx(0.88)


def test_the_table_lists_the_circuit_by_score(timeline):
    rows = circuit_rows(timeline)
    assert [r["edge"] for r in rows] == sorted(
        timeline.circuit.edge_names, key=lambda n: -abs(float(timeline.scores[-1, GRAPH.edge(n)]))
    )
    for row in rows:
        edge = GRAPH.edge(row["edge"])
        assert row["score (share of the gap)"] == pytest.approx(float(timeline.scores[-1, edge]))
        assert row["effect (metric units)"] == pytest.approx(float(timeline.effects[-1, edge]))


def test_the_section_holds_its_figures_table_and_explanation(timeline):
    page = Page("report")
    add_circuit_section(page, timeline, planted_phase())
    html = page.render()
    assert html.count('class="figure"') == 4 and html.count("<table>") == 1
    assert "its score is that effect as a share of the gap" in html
    assert "Faithfulness = (metric with every edge outside the circuit corrupted" in html
    assert "7 of 29 edges" in html and "integrated gradients" in html
    # step 0's gap (0.2) is 8% of the last one's (2.5): its faithfulness is flagged; with a larger gap it is not.
    assert "(unreliable: the gap there is small) at step 0." in summary(timeline)
    wider = dataclasses.replace(timeline, metric_corrupted=torch.tensor([-0.2, 0.02, 0.0, 0.1, 0.0, 0.0]))
    assert "unreliable" not in summary(wider) and f"{float(wider.circuit_faithfulness[0]):.3f} at step 0." in summary(wider)


def test_the_run_report_has_the_section_when_the_analysis_has_a_circuit(tmp_path):
    import interp
    from interp.analysis.run_analysis import analyse_run
    from interp.report.run_report import render_run_report
    from interp.tasks import induction_task

    run = interp.train_run("tiny", tmp_path / "run", progress=False)  # 10 steps, 1 s
    task = induction_task(run.checkpoints[-1].config.d_vocab, n=8, half=4)
    analysis = analyse_run(run.run_dir, circuit_task=task, progress=False, log=lambda line: None)
    with_circuit = render_run_report(analysis).render()
    without = render_run_report(dataclasses.replace(analysis, circuit=None)).render()
    heading = f"<h2>Circuit across training ({analysis.circuit.method})</h2>"
    assert heading in with_circuit and heading not in without
    assert with_circuit.count('class="figure"') == without.count('class="figure"') + 4


@pytest.mark.browser
def test_the_page_opens_offline_with_no_console_error(timeline):
    out = Path(tempfile.mkdtemp())
    path = circuit_timeline_page(timeline, title="Circuit <b>test</b>", subtitle="planted", phase=planted_phase()).write(
        out / "circuit.html"
    )
    seen = visit(path, out / "circuit.png", {"plots": ".js-plotly-plot", "sliders": ".slider-container"})
    assert seen.rendered == "true", (seen.console_errors, seen.page_errors)
    assert seen.console_errors == [] and seen.page_errors == []
    assert outside_requests(seen, path) == []
    assert seen.counts == {"plots": 4, "sliders": 1}

    # Moving the slider (what its steps do) redraws the graph for an earlier checkpoint without an error.
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route(
                "**/*",
                lambda route: route.continue_() if route.request.url.startswith(("file:", "data:", "blob:")) else route.abort(),
            )
            page.goto(path.resolve().as_uri())
            page.wait_for_function("document.body.dataset.rendered !== undefined", timeout=60_000)
            title = page.evaluate(
                """async () => {
                  const gd = document.getElementById("figure-0"), step = gd.layout.sliders[0].steps[1];
                  await Plotly.update(gd, ...step.args);
                  return [gd.layout.title.text, document.querySelectorAll("#figure-0 .scatterlayer path.js-line").length];
                }"""
            )
        finally:
            browser.close()
    assert errors == []
    assert title[0].startswith("edges at step 10 (1k tokens)") and title[1] > 0
