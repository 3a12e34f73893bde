"""Circuits, pruning, faithfulness, CPR/CMD, ACDC and EAP-IG's completeness, on small random models."""

import pytest
import torch

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.analysis.edges.acdc import acdc
from interp.analysis.edges.attribution import edge_attribution
from interp.analysis.edges.circuit import Circuit, on_paths
from interp.analysis.edges.exact import edge_patching
from interp.analysis.edges.faithfulness import FaithfulnessCurve, faithfulness, faithfulness_curve
from interp.analysis.edges.graph import Graph
from interp.core.errors import DataError
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.tasks import induction_task


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=24, d_head=4, n_heads=4, d_vocab=20, d_mlp=32)).eval()


@pytest.fixture(scope="module")
def task():
    return induction_task(20, n=12, half=6, read="random")


def test_pruning_keeps_exactly_the_edges_on_input_to_logits_paths():
    graph = Graph(n_layers=3, n_heads=2, attn_only=True)
    generator = torch.Generator().manual_seed(1)
    for _ in range(20):
        keep = torch.rand(graph.n_edges, generator=generator) < 0.15
        kept = on_paths(graph, keep) & keep
        # naive: an edge is on a path iff some path input -> ... -> sender and receiver node -> ... -> logits exists
        edges = [(graph.senders[s], graph.receiver_node(r)) for r, s in graph.edge_index.tolist()]
        chosen = [e for e, k in zip(edges, keep.tolist()) if k]

        def closure(start, forward, chosen=chosen):
            seen, frontier = {start}, [start]
            while frontier:
                node = frontier.pop()
                for a, b in chosen:
                    nxt = b if forward else a
                    if (a if forward else b) == node and nxt not in seen:
                        seen.add(nxt)
                        frontier.append(nxt)
            return seen

        reached, reaching = closure("input", True), closure("logits", False)
        expected = torch.tensor([k and a in reached and b in reaching for (a, b), k in zip(edges, keep.tolist())])
        assert torch.equal(kept, expected)


def test_faithfulness_is_one_for_the_whole_model_and_zero_for_the_empty_circuit(model, task):
    graph = Graph.of(model)
    full, empty = (
        Circuit(graph, torch.ones(graph.n_edges, dtype=torch.bool)),
        Circuit(graph, torch.zeros(graph.n_edges, dtype=torch.bool)),
    )
    values = faithfulness(model, task, [full, empty])
    assert values.tolist() == pytest.approx([1.0, 0.0], abs=1e-4)


def test_faithfulness_of_a_one_edge_complement_is_exact_patching(model, task):
    """Every edge but one kept: the metric is exact patching of that one edge (noising)."""
    scores = edge_patching(model, task)
    graph = scores.graph
    for edge in (0, graph.n_edges // 2, graph.n_edges - 1):
        keep = torch.ones(graph.n_edges, dtype=torch.bool)
        keep[edge] = False
        value = faithfulness(model, task, Circuit(graph, keep))[0]
        assert float(value) == pytest.approx(1.0 - float(scores.scores[edge]), abs=1e-4)


def test_curve_areas_match_hand_computed_trapezoids():
    graph = Graph(n_layers=1, n_heads=1, attn_only=True)
    empty = Circuit(graph, torch.zeros(graph.n_edges, dtype=torch.bool))
    curve = FaithfulnessCurve(
        requested=torch.tensor([0.0, 0.5, 1.0]),
        fractions=torch.tensor([0.0, 0.5, 1.0]),
        faithfulness=torch.tensor([0.0, 1.5, 1.0]),
        rows=torch.zeros(3, 1),
        circuits=(empty,) * 3,
    )
    assert curve.cpr == pytest.approx(0.5 * 0.75 + 0.5 * 1.25)
    assert curve.cmd == pytest.approx(0.5 * (1 + 0.5) / 2 + 0.5 * (0.5 + 0) / 2)  # |1 - f| is 1, 0.5, 0


def test_curve_on_exact_scores_beats_random_scores(model, task):
    exact = edge_patching(model, task)
    good = faithfulness_curve(model, task, exact.scores)
    random = faithfulness_curve(model, task, torch.rand(exact.graph.n_edges, generator=torch.Generator().manual_seed(0)))
    assert good.faithfulness[-1] == pytest.approx(1.0, abs=1e-4) and good.faithfulness[0] == pytest.approx(0.0, abs=1e-4)
    assert good.cmd < random.cmd and good.cpr > random.cpr


def test_eap_ig_on_edges_is_complete_and_converges(model, task):
    """Integrated gradients over the edge masks: the scores sum to the whole gap (the midpoint rule's error
    shrinks with more steps)."""
    errors = [
        abs(float(edge_attribution(model, task, method="eap-ig", ig_on="edges", steps=s).scores.sum()) - 1) for s in (2, 32)
    ]
    assert errors[1] < 0.01 and errors[1] < errors[0]


def test_eap_ig_on_inputs_is_exact_for_the_edges_into_the_logits_of_a_one_layer_linear_path():
    """With no LayerNorm and only the embedding differing, the direct input -> logits edge is linear in the
    input: any attribution method gives its exact patching effect."""
    model = build_model(
        ModelConfig(n_layers=1, d_model=8, n_ctx=6, d_head=4, n_heads=2, d_vocab=10, attn_only=True, normalization_type=None)
    )
    clean = torch.randint(0, 10, (5, 6), generator=torch.Generator().manual_seed(2))
    corrupted = clean.clone()
    corrupted[:, -1] = (clean[:, -1] + 3) % 10
    task = Task(clean, corrupted, LogitDiff(correct=clean[:, -1], wrong=corrupted[:, -1], positions=5))
    exact = edge_patching(model, task)
    edge = exact.graph.edge("input->logits")
    for method in ("eap", "eap-ig"):
        estimate = edge_attribution(model, task, method=method)
        assert float(estimate.effects[edge]) == pytest.approx(float(exact.effects[edge]), abs=1e-5)


def test_acdc_thresholds_bracket_the_circuit(model, task):
    everything = acdc(model, task, threshold=0.0)
    nothing = acdc(model, task, threshold=1e9)
    middle = acdc(model, task, threshold=0.02)
    assert nothing.circuit.n_edges == 0
    assert everything.circuit.n_edges >= middle.circuit.n_edges > 0
    kept = float(faithfulness(model, task, middle.circuit)[0])
    assert kept == pytest.approx(1.0, abs=0.02 * middle.tested)  # each removal moved the metric by < 2% of the gap


def test_bad_inputs_are_one_line_errors(model, task):
    with pytest.raises(DataError, match="zero everywhere"):
        same = LogitDiff(correct=task.metric.correct, wrong=task.metric.correct, positions=task.metric.positions)
        edge_attribution(model, Task(task.clean, task.corrupted, same), method="eap")
    with pytest.raises(DataError, match="same shape"):
        edge_patching(model, task.clean, task.corrupted[:, :-1], task.metric)
    with pytest.raises(DataError, match="does not connect"):
        Circuit.from_edges(Graph.of(model), ["input->L0H0.q"]).pruned(strict=True)
    with pytest.raises(DataError, match="unknown attribution method"):
        edge_attribution(model, task, method="ig")
    with pytest.raises(DataError, match="no edge"):
        Graph.of(model).edge("L9H9->logits")


def test_threshold_circuits_keep_the_edges_at_or_above_it():
    graph = Graph(n_layers=1, n_heads=1, attn_only=True)  # 5 edges
    scores = torch.tensor([0.5, -0.3, 0.1, -0.05, 0.3])
    assert Circuit.above(graph, scores, 0.3).keep.tolist() == [True, True, False, False, True]
    assert Circuit.above(graph, scores, 0.3, absolute=False).keep.tolist() == [True, False, False, False, True]
    assert Circuit.above(graph, scores, 0.3).keep.tolist() == Circuit.top_k(graph, scores, 3).keep.tolist()
