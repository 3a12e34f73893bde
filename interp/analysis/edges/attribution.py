"""Edge attribution: first-order estimates of every edge's exact patching effect from gradients.

- "eap" (Syed et al. 2023): one forward and one backward on the base run; an edge's effect is estimated as
  (other_s - base_s) . dM/d(input of r), the sender's change dotted with the gradient at the receiver's input.
- "eap-ig" (Hanna et al. 2024, integrated gradients with `steps` points, midpoint rule):
  - ig_on="inputs": the gradient at each receiver averaged over runs whose input embedding moves from the
    other run's to the base run's, times the sender's change (as in the EAP-IG paper);
  - ig_on="edges": every edge's mask walks from the other run (0) to the base run (1) at once, and an edge's
    score is its integrated gradient (the differences recomputed at each point), so the scores of all edges sum
    to the whole clean-corrupted effect (completeness; the test checks it).

The estimates use the sign convention of exact patching (interp.analysis.edges.problem): important edges score
positive in both directions. With direction="denoising", "eap" equals TransformerLens 4.3's edge attribution
(`transformer_lens.tools.analysis.attribution_patching`, gradient on the corrupted run) summed over positions.
TransformerLens refuses our native bridges for edges (their AttentionBridge offers neither per-head results nor
split q/k/v inputs), so tests/unit/analysis/edges/test_transformer_lens_eap.py compares on a HuggingFace GPT-2
with the same weights, and checks node attribution (which does run) on the native model.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.tasks import induction_task
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=24, d_head=4, n_heads=4, d_vocab=20, attn_only=True))
>>> task = induction_task(20, n=8, half=6)
>>> ig = edge_attribution(model, task, method="eap-ig", steps=32, ig_on="edges")
>>> abs(float(ig.scores.sum()) - 1.0) < 0.01                      # completeness: the edges carry the whole gap
True
"""

import time

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.analysis.edges.edge_forward import EdgeRun, edge_forward
from interp.analysis.edges.problem import EdgeProblem, prepare
from interp.analysis.edges.scores import EdgeScores, as_scores
from interp.core.errors import DataError

METHODS = ("eap", "eap-ig")
IG_ON = ("inputs", "edges")


def edge_attribution(
    model,
    clean_or_task: Int[Tensor, "batch pos"] | Task,
    corrupted: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
    *,
    method: str = "eap-ig",
    steps: int = 5,
    ig_on: str = "inputs",
    direction: str = "noising",
) -> EdgeScores:
    """EAP or EAP-IG scores of every edge of the model's graph."""
    check_options(method, steps, ig_on)
    started = time.perf_counter()
    problem = prepare(model, clean_or_task, corrupted, metric, direction=direction)
    return attribution_scores(problem, method, steps, ig_on, started=started)


def check_options(method: str, steps: int, ig_on: str) -> None:
    """Refuse an unknown method or ig_on, or a step count that is not a positive int."""
    if method not in METHODS:
        raise DataError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
    if ig_on not in IG_ON:
        raise DataError(f"unknown ig_on {ig_on!r}; choose one of {', '.join(IG_ON)}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise DataError(f"steps must be a positive number of integration points, got {steps!r}")


def attribution_scores(problem: EdgeProblem, method: str, steps: int, ig_on: str, *, started: float | None = None) -> EdgeScores:
    """EAP or EAP-IG scores of a prepared problem (options checked by check_options; `started`: a perf_counter
    the seconds count from)."""
    started = time.perf_counter() if started is None else started
    rows = attribution_rows(problem, method, steps, ig_on)
    name = method if method == "eap" else f"eap-ig-{ig_on}"
    return as_scores(problem, name, rows, seconds=time.perf_counter() - started)


def attribution_rows(problem: EdgeProblem, method: str, steps: int, ig_on: str) -> Float[Tensor, "edge batch"]:
    """Per prompt, the estimated effect of patching each edge alone."""
    graph, base, other = problem.graph, problem.base, problem.other
    change = (base.senders - other.senders)[None]  # 1 batch pos sender d_model: base minus other, as in EdgeRun
    ones = torch.ones(graph.allowed.shape)
    if method == "eap":
        return _estimate(problem, [_run(problem, ones)], lambda run: change)
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    if ig_on == "edges":
        return _estimate(problem, [_run(problem, alphas[:, None, None] * ones)], lambda run: run.differences)
    embed = problem.w.embed
    base_input, other_input = embed(base.tokens), embed(other.tokens)
    runs = [_run(problem, ones, other_input + alpha * (base_input - other_input)) for alpha in alphas.tolist()]
    return _estimate(problem, runs, lambda run: change)


def _run(problem: EdgeProblem, mask: Tensor, embedding: Tensor | None = None) -> tuple[EdgeRun, tuple[Tensor, ...]]:
    """An edge forward with the gradient of the summed per-row metric at every receiver input."""
    with torch.enable_grad():
        mask = mask.clone().requires_grad_(True)
        run = edge_forward(
            problem.w, problem.graph, problem.base.tokens, problem.other, mask, problem.metric, embedding=embedding
        )
        inputs = [x for _, x in run.inputs]
        grads = torch.autograd.grad(run.metric_rows.sum(), inputs)
    return run, grads


def _estimate(problem: EdgeProblem, runs, difference_of) -> Float[Tensor, "edge batch"]:
    """-sign * mean over runs and variants of (sender difference . receiver gradient), per edge and row."""
    graph = problem.graph
    positions, rows = problem.metric.positions, torch.arange(problem.base.tokens.shape[0])
    total = torch.zeros(*graph.allowed.shape, rows.shape[0])
    count = 0
    for run, grads in runs:
        if all(float(g.abs().max()) == 0.0 for g in grads):
            raise DataError(
                "the metric's gradient is zero everywhere: it does not depend on the logits (are correct and wrong the same tokens?)"
            )
        differences = difference_of(run).detach()
        for (receivers, _), grad in zip(run.inputs, grads):
            if receivers.tolist() == [graph.logits_receiver]:
                sent = differences[:, rows, positions]  # variant batch sender d_model
                part = einops.einsum(grad[:, :, 0], sent, "variant batch d_model, variant batch sender d_model -> sender batch")
                total[graph.logits_receiver] += part
                continue
            upstream = graph.upstream(int(receivers[0]))
            part = einops.einsum(
                grad,
                differences[:, :, :, :upstream],
                "variant batch pos receiver d_model, variant batch pos sender d_model -> receiver sender batch",
            )
            total[receivers, :upstream] += part
        count += grads[0].shape[0]
    estimate = -problem.sign * total / count
    return estimate[graph.edge_index[:, 0], graph.edge_index[:, 1]]
