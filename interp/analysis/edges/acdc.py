"""ACDC (Conmy et al. 2023): greedy pruning of edges with exact patching, the slow reference for small models.

Start from the whole graph. Visit the receivers from the logits back to layer 0 and, for each, its senders from
the last to the first; corrupt the edge (on top of every edge removed so far) and keep it removed when the task
metric moves by less than `threshold` (a share of the clean-corrupted gap); otherwise restore it. A receiver
whose node no longer reaches the logits loses its incoming edges untested. One full edge forward per tested
edge: seconds on the demo model, minutes on bigger ones.

An edge's score is the metric change (in gap shares, signed like exact patching) measured when it was tested:
the evidence ACDC decided on; untested edges score 0.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.tasks import induction_task
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=24, d_head=4, n_heads=4, d_vocab=20, attn_only=True))
>>> found = acdc(model, induction_task(20, n=8, half=6), threshold=0.05)
>>> found.circuit.n_edges <= 81, found.scores.effects.shape
(True, torch.Size([81]))
"""

import time
from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.analysis.edges.circuit import Circuit, reaching_logits
from interp.analysis.edges.edge_forward import edge_forward
from interp.analysis.edges.problem import EdgeProblem, prepare
from interp.analysis.edges.scores import EdgeScores, as_scores
from interp.core.errors import DataError


@dataclass(frozen=True, eq=False)
class AcdcResult:
    circuit: Circuit
    scores: EdgeScores
    threshold: float
    tested: int


def acdc(
    model,
    clean_or_task: Int[Tensor, "batch pos"] | Task,
    corrupted: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
    *,
    threshold: float = 0.01,
    progress: bool = False,
) -> AcdcResult:
    """The circuit ACDC keeps at `threshold` (a share of the clean-corrupted gap of the metric)."""
    check_threshold(threshold)
    problem = prepare(model, clean_or_task, corrupted, metric, direction="noising")
    return prune_greedily(problem, threshold, progress=progress)


def check_threshold(threshold: float) -> None:
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or threshold < 0:
        raise DataError(f"threshold must be a non-negative share of the metric's gap, got {threshold!r}")


def prune_greedily(problem: EdgeProblem, threshold: float, *, progress: bool = False) -> AcdcResult:
    """ACDC on a prepared (noising) problem: see the module docstring."""
    started = time.perf_counter()
    graph = problem.graph
    keep = torch.ones(graph.n_edges, dtype=torch.bool)
    effects = torch.zeros(graph.n_edges)
    receivers = graph.edge_index[:, 0]

    def measure(kept: Tensor) -> float:
        with torch.no_grad():
            mask = Circuit(graph, kept).mask()
            run = edge_forward(problem.w, graph, problem.base.tokens, problem.other, mask, problem.metric)
        return float(run.metric_rows.mean())

    current, tested = measure(keep), 0
    order = range(len(graph.receivers) - 1, -1, -1)
    if progress:
        from tqdm import tqdm

        order = tqdm(order, desc="ACDC receivers", unit="receiver")
    for receiver in order:
        into = (receivers == receiver).nonzero().flatten().flip(0)
        if graph.receiver_node(receiver) not in reaching_logits(graph, keep):
            keep[into] = False
            continue
        for edge in into.tolist():
            keep[edge] = False
            value = measure(keep)
            tested += 1
            effects[edge] = current - value  # noising: losing the behaviour is positive
            if abs(effects[edge] / problem.gap) < threshold:
                current = value
            else:
                keep[edge] = True
    scores = as_scores(problem, "acdc", None, effects=effects, seconds=time.perf_counter() - started)
    return AcdcResult(Circuit(graph, keep), scores, float(threshold), tested)
