"""Known answers: every edge method recovers the planted circuits of hand-wired models (tests/helpers/planted_circuits).

Recovery is the ROC AUC of |score| with the planted edges as the positive class, over every edge of the graph.
EAP is a gradient at the base run, so it is blind where that gradient vanishes; the planted models have one such
spot per direction, pinned below instead of scored: noising (the clean run) saturates the induction head's
softmax, denoising (the corrupted run) leaves the planted MLP's ReLU unit off.
"""

import pytest
import torch
from helpers.planted_circuits import (
    FIRST_HALF_NOISING_EDGES,
    induction_first_half_task,
    planted_circuits,
)
from helpers.planted_induction import planted_model

from interp.analysis.edges.acdc import acdc
from interp.analysis.edges.attribution import edge_attribution
from interp.analysis.edges.circuit import Circuit
from interp.analysis.edges.exact import edge_patching
from interp.analysis.edges.faithfulness import faithfulness
from interp.analysis.edges.graph import Graph
from interp.analysis.edges.problem import prepare

ACDC_THRESHOLD = 0.05  # distractors move the metric by < 0.005 of the gap, planted edges by >= 0.4
METHODS = {
    "exact-noising": lambda m, t: edge_patching(m, t, direction="noising"),
    "exact-denoising": lambda m, t: edge_patching(m, t, direction="denoising"),
    "eap-noising": lambda m, t: edge_attribution(m, t, method="eap", direction="noising"),
    "eap-denoising": lambda m, t: edge_attribution(m, t, method="eap", direction="denoising"),
    "eap-ig-inputs": lambda m, t: edge_attribution(m, t, method="eap-ig", ig_on="inputs"),
    "eap-ig-inputs-denoising": lambda m, t: edge_attribution(m, t, method="eap-ig", ig_on="inputs", direction="denoising"),
    "eap-ig-edges": lambda m, t: edge_attribution(m, t, method="eap-ig", ig_on="edges"),
    "eap-ig-edges-denoising": lambda m, t: edge_attribution(m, t, method="eap-ig", ig_on="edges", direction="denoising"),
}
# (model, method) where EAP's gradient vanishes on planted edges, and those edges (test_eap_blind_spots). The
# induction one would still pass the AUC bar (0.97), but only because the distractors score lower still (<= 3.2e-5
# of the gap against the planted key path's 2.5e-5): that is no recovery.
EAP_BLIND = {
    ("induction", "eap-noising"): ("input->L0H0.v", "L0H0->L1H0.k"),
    ("multipath-mlp", "eap-denoising"): ("input->L0H1.v", "L0H1->L1H0.v", "L1H0->MLP1"),
}
PLANTED = {pc.name: pc for pc in planted_circuits(n=16)}
RECOVERED = [(name, method) for name in PLANTED for method in [*METHODS, "acdc"] if (name, method) not in EAP_BLIND]


def roc_auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """P(a positive outscores a negative), ties counting half (the Mann-Whitney form, exact)."""
    gaps = scores[positive][:, None] - scores[~positive][None, :]
    return float(((gaps > 0).double() + 0.5 * (gaps == 0).double()).mean())


@pytest.fixture(scope="module")
def acdc_found():
    return {name: acdc(pc.model, pc.task, threshold=ACDC_THRESHOLD) for name, pc in PLANTED.items()}


@pytest.fixture(scope="module")
def scores(acdc_found):
    found = {(name, method): run(pc.model, pc.task) for name, pc in PLANTED.items() for method, run in METHODS.items()}
    return found | {(name, "acdc"): result.scores for name, result in acdc_found.items()}


def positives(name: str, graph) -> torch.Tensor:
    return Circuit.from_edges(graph, PLANTED[name].edges).keep


def test_roc_auc_helper():
    positive = torch.tensor([True, True, False, False])
    assert roc_auc(torch.tensor([3.0, 2.0, 1.0, 0.0]), positive) == 1.0
    assert roc_auc(torch.tensor([0.0, 1.0, 2.0, 3.0]), positive) == 0.0
    assert roc_auc(torch.ones(4), positive) == 0.5
    assert roc_auc(torch.tensor([3.0, 1.0, 2.0, 1.0]), positive) == 0.625  # (1 + 1 + 0 + 0.5) / 4


@pytest.mark.parametrize(("name", "method"), RECOVERED)
def test_every_method_recovers_the_planted_edges(scores, name, method):
    found = scores[name, method]
    auc = roc_auc(found.scores.abs(), positives(name, found.graph))
    assert auc >= 0.95, f"{name} {method}: ROC AUC {auc:.3f}; top {found.top(len(PLANTED[name].edges))}"


@pytest.mark.parametrize("direction", ["noising", "denoising"])
@pytest.mark.parametrize("name", PLANTED)
def test_exact_patching_ranks_the_planted_edges_first(scores, name, direction):
    found = scores[name, f"exact-{direction}"]
    planted = PLANTED[name].edges
    assert {edge for edge, _ in found.top(len(planted))} == set(planted)
    share = found.scores.abs()
    assert float(share[positives(name, found.graph)].min()) > 0.35  # every planted edge carries its path's share
    assert float(share[~positives(name, found.graph)].max()) < 0.01


@pytest.mark.parametrize("name", PLANTED)
def test_acdc_keeps_exactly_the_planted_edges(acdc_found, name):
    assert set(acdc_found[name].circuit.edge_names) == set(PLANTED[name].edges)


@pytest.mark.parametrize("name", PLANTED)
def test_planted_circuit_is_faithful_and_a_random_one_is_not(name):
    pc = PLANTED[name]
    graph = Graph.of(pc.model)
    planted = Circuit.from_edges(graph, pc.edges)
    generator = torch.Generator().manual_seed(0)
    randoms = []
    for _ in range(8):
        keep = torch.zeros(graph.n_edges, dtype=torch.bool)
        keep[torch.randperm(graph.n_edges, generator=generator)[: len(pc.edges)]] = True
        randoms.append(Circuit(graph, keep))
    values = faithfulness(pc.model, pc.task, [planted, *randoms])
    assert float(values[0]) >= 0.9
    assert float(values[1:].abs().max()) < 0.5 and float(values[1:].mean()) < 0.2


@pytest.mark.parametrize(("name", "method"), EAP_BLIND)
def test_eap_blind_spots(scores, name, method):
    """Where EAP's base-run gradient vanishes, planted edges that exact patching scores ~1 (or 0.6) score ~0."""
    direction = method.removeprefix("eap-")
    exact, eap = scores[name, f"exact-{direction}"], scores[name, method]
    blind = [exact.graph.edge(edge) for edge in EAP_BLIND[name, method]]
    assert float(exact.scores[blind].abs().min()) > 0.5
    assert float(eap.scores[blind].abs().max()) < 1e-3


def test_first_half_corruption_is_an_and_of_the_key_and_value_paths():
    """fresh + r changes the key path and L1H0's value at the attended position: noising either path loses
    the behaviour, denoising either alone restores none of it (the value path: r6 is 1 of 13 uniform values)."""
    model, task = planted_model(), induction_first_half_task(n=16)
    noising = edge_patching(model, task)
    assert {edge for edge, _ in noising.top(4)} == set(FIRST_HALF_NOISING_EDGES)
    assert min(noising.scores[noising.graph.edge(e)].item() for e in FIRST_HALF_NOISING_EDGES) > 0.9
    denoising = edge_patching(model, task, direction="denoising")
    score = {edge: denoising.scores[denoising.graph.edge(edge)].item() for edge in FIRST_HALF_NOISING_EDGES}
    assert score["L1H0->logits"] == pytest.approx(1.0, abs=1e-3)
    assert score["input->L1H0.v"] == pytest.approx(1 / 13, abs=0.01)
    assert abs(score["input->L0H0.v"]) < 1e-3 and abs(score["L0H0->L1H0.k"]) < 1e-3


def test_multipath_distractors_do_work_that_the_metric_ignores(scores):
    """L0H2 and L2H1 read the corrupted position (their outputs differ a lot between the runs), L1H1 writes into
    the logits' block (a large output, the same in both runs); none of their edges matters."""
    pc = PLANTED["multipath"]
    problem = prepare(pc.model, pc.task)
    graph, last = problem.graph, pc.task.metric.positions
    rows = torch.arange(pc.task.batch)

    def at_last(state, layer, head):
        return state.senders[rows, last, graph.head_sender(layer, head)]

    for layer, head in ((0, 2), (2, 1)):
        change = (at_last(problem.base, layer, head) - at_last(problem.other, layer, head)).norm(dim=-1)
        assert float(change.min()) > 5.0  # 4 * (onehot(X) - onehot(Y)): 4 * sqrt(2)
    assert float(at_last(problem.base, 1, 1).norm(dim=-1).min()) > 3.9
    same = (at_last(problem.base, 1, 1) - at_last(problem.other, 1, 1)).norm(dim=-1)
    assert float(same.max()) < 0.05  # only the random heads' leak into what L1H1 reads
    exact = scores["multipath", "exact-noising"]
    for edge, score in zip(graph.edges, exact.scores.tolist()):
        if edge.startswith(("L0H2->", "L1H1->", "L2H1->")) or edge == "L0H1->L2H1.v":
            assert abs(score) < 0.01, edge
