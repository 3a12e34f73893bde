"""Exact edge patching (batched, on the engine) against the per-edge hook loop on the bridge, and against the
general edge forward with one edge switched; the graph's edge counts; bad input."""

from functools import cache

import pytest
import torch

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.analysis.edges import problem as problem_module
from interp.analysis.edges.edge_forward import edge_forward
from interp.analysis.edges.exact import edge_patching, patched_rows
from interp.analysis.edges.graph import Graph
from interp.analysis.edges.problem import prepare
from interp.analysis.edges.reference import reference_edge_patching
from interp.analysis.patching.partial_forward import SuffixError
from interp.core.errors import DataError
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.tasks import induction_task

VOCAB = 20
MODELS = {  # small models of every kind the graph has: with and without MLPs, with LayerNorm and with none
    "attn-LN": dict(n_layers=2, attn_only=True, normalization_type="LN"),
    "attn-none": dict(n_layers=2, attn_only=True, normalization_type=None),
    "mlp-LN-3l": dict(n_layers=3, attn_only=False, d_mlp=32, normalization_type="LN"),
    "mlp-none": dict(n_layers=2, attn_only=False, d_mlp=32, normalization_type=None),
}


@cache
def model_of(kind: str):
    return build_model(ModelConfig(d_model=16, n_ctx=24, d_head=4, n_heads=4, d_vocab=VOCAB, seed=7, **MODELS[kind]))


def hand_built_task() -> Task:
    """Random rows, three positions corrupted, the metric read at a different position in each row (so rows see
    different numbers of positions) with arbitrary answers."""
    generator = torch.Generator().manual_seed(3)
    clean = torch.randint(VOCAB, (6, 11), generator=generator)
    corrupted = clean.clone()
    corrupted[:, 2:5] = torch.randint(VOCAB, (6, 3), generator=generator)
    correct = torch.randint(VOCAB, (6,), generator=generator)
    wrong = (correct + torch.randint(1, VOCAB, (6,), generator=generator)) % VOCAB  # never the correct token
    metric = LogitDiff(correct=correct, wrong=wrong, positions=torch.tensor([5, 10, 7, 6, 9, 8]))
    return Task(clean=clean, corrupted=corrupted, metric=metric)


TASKS = {"induction": lambda: induction_task(VOCAB, n=4, half=6, seed=1), "hand-built": hand_built_task}


@pytest.mark.parametrize("direction", ["noising", "denoising"])
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("kind", MODELS)
def test_exact_equals_the_per_edge_hook_loop(kind, task, direction):
    model, task = model_of(kind), TASKS[task]()
    exact = edge_patching(model, task, direction=direction)
    slow = reference_edge_patching(model, task, direction=direction)
    assert exact.graph == slow.graph and exact.rows.shape == slow.rows.shape == (exact.graph.n_edges, task.batch)
    assert float(slow.rows.abs().max()) > 0.01  # edges that matter: the comparison is not of zeros
    assert float((exact.rows - slow.rows).abs().max()) <= 1e-5
    assert float((exact.effects - slow.effects).abs().max()) <= 1e-5
    assert exact.clean == pytest.approx(slow.clean, abs=1e-5) and exact.corrupted == pytest.approx(slow.corrupted, abs=1e-5)
    assert (exact.direction, slow.direction, slow.method) == (direction, direction, "reference")


@pytest.mark.parametrize("direction", ["noising", "denoising"])
@pytest.mark.parametrize("kind", MODELS)
def test_exact_equals_the_edge_forward_with_one_edge_switched(kind, direction):
    """Variant e of the mask is all ones (the base run) but edge e's entry, 0 (the other run's value)."""
    problem = prepare(model_of(kind), hand_built_task(), direction=direction)
    graph = problem.graph
    mask = torch.ones(graph.n_edges, *graph.allowed.shape)
    mask[torch.arange(graph.n_edges), graph.edge_index[:, 0], graph.edge_index[:, 1]] = 0.0
    with torch.no_grad():
        general = edge_forward(problem.w, graph, problem.base.tokens, problem.other, mask, problem.metric).metric_rows
    fast = patched_rows(problem)
    assert float((fast - problem.base_rows).abs().max()) > 0.01
    assert float((fast - general).abs().max()) <= 1e-5


def test_edge_counts():
    assert Graph(n_layers=2, n_heads=4, attn_only=True).n_edges == 81  # the demo model
    assert Graph(n_layers=4, n_heads=4, attn_only=True).n_edges == 353  # the 4-layer IOI model
    # with MLPs, counted receiver by receiver: a head of layer L reads 1 + 5L senders, the MLP of layer L 5 + 5L,
    # the logits all 1 + 5 * n_layers (4 heads and an MLP per layer)
    for n_layers in (1, 2, 4):
        expected = sum(12 * (1 + 5 * layer) + 5 + 5 * layer for layer in range(n_layers)) + 1 + 5 * n_layers
        assert Graph(n_layers=n_layers, n_heads=4, attn_only=False).n_edges == expected
    assert Graph(n_layers=4, n_heads=4, attn_only=False).n_edges == 479  # the 4-layer MLP IOI model
    for kind in MODELS:  # Graph.of reads the model; every edge is named once
        graph = Graph.of(model_of(kind))
        assert len(set(graph.edges)) == graph.n_edges == int(graph.allowed.sum())


def _rotary_model():
    return build_model(
        ModelConfig(n_layers=1, d_model=16, n_ctx=24, d_head=4, n_heads=4, d_vocab=VOCAB, positional_embedding_type="rotary")
    )


BAD = {
    "shapes differ": (
        lambda: (model_of("attn-LN"), torch.zeros(3, 8, dtype=torch.long), torch.zeros(3, 7, dtype=torch.long)),
        {},
        DataError,
        "must have the same shape",
    ),
    "unknown direction": (lambda: (model_of("attn-LN"), induction_task(VOCAB, n=2, half=4)), {"direction": "sideways"}, DataError, "unknown direction 'sideways'"),
    "rotary model": (lambda: (_rotary_model(), induction_task(VOCAB, n=2, half=4)), {}, SuffixError, "positional_embedding_type is 'rotary'"),
}  # fmt: skip


@pytest.mark.parametrize("function", [edge_patching, reference_edge_patching], ids=["exact", "reference"])
@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_one_line_error_and_nothing_runs(case, function, monkeypatch):
    make, options, error, message = BAD[case]
    model, *inputs = make()
    if len(inputs) == 2:  # clean and corrupted tokens: add a metric of the clean rows
        inputs.append(LogitDiff(correct=torch.zeros(3, dtype=torch.long), wrong=torch.ones(3, dtype=torch.long), positions=2))
    calls = []
    handle = model.register_forward_pre_hook(lambda module, args: calls.append("forward"))
    monkeypatch.setattr(problem_module, "record", lambda *args, **kwargs: calls.append("record"))
    try:
        with pytest.raises(error, match=message) as raised:
            function(model, *inputs, **options)
    finally:
        handle.remove()
    assert "\n" not in str(raised.value)
    assert calls == []  # neither the bridge nor the engine ran


def test_the_reference_leaves_no_hook_behind_even_when_it_fails():
    from transformer_lens.hook_points import HookPoint

    model, task = model_of("mlp-none"), induction_task(VOCAB, n=2, half=4)
    calls = [0]

    class FailingDiff(LogitDiff):
        def per_row(self, logits, rows=None):
            calls[0] += 1
            if calls[0] > 3:  # the clean and corrupted runs and one edge, then fail inside the loop
                raise RuntimeError("metric failed")
            return super().per_row(logits, rows)

    metric = FailingDiff(correct=task.metric.correct, wrong=task.metric.wrong, positions=task.metric.positions)
    with pytest.raises(RuntimeError, match="metric failed"):
        reference_edge_patching(model, task.clean, task.corrupted, metric)
    assert not any(isinstance(m, HookPoint) and (m.fwd_hooks or m.bwd_hooks) for m in model.modules())
    reference_edge_patching(model, task)  # and it still runs
    assert not any(isinstance(m, HookPoint) and (m.fwd_hooks or m.bwd_hooks) for m in model.modules())
