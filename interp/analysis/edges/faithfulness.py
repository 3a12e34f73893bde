"""Faithfulness of circuits: the metric with every edge outside the circuit corrupted, on a 0..1 scale.

faithfulness = (metric(circuit) - metric(corrupted)) / (metric(clean) - metric(corrupted)): the full model scores 1,
the empty circuit (every edge corrupted: the corrupted run) 0. Edges outside the circuit carry the corrupted
run's sender outputs; edges inside carry the values of the run being computed (interp.analysis.edges.edge_forward).

The faithfulness-vs-size curve evaluates the top-k circuits of a score, pruned, at a range of sizes, and gives the
two numbers of the MIB benchmark (Mueller et al. 2025) over the fraction of edges kept (trapezoids, 0..1):
CPR, the area under the curve (higher is better), and CMD, the area between it and 1 (lower is better).

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.tasks import induction_task
>>> from interp.analysis.edges.exact import edge_patching
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=24, d_head=4, n_heads=4, d_vocab=20, attn_only=True))
>>> task = induction_task(20, n=8, half=6)
>>> curve = faithfulness_curve(model, task, edge_patching(model, task).scores)
>>> [abs(round(curve.faithfulness[i].item(), 4)) for i in (0, -1)]     # the empty circuit, the whole model
[0.0, 1.0]
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.analysis.edges.circuit import Circuit
from interp.analysis.edges.edge_forward import edge_forward
from interp.analysis.edges.problem import EdgeProblem, prepare

FRACTIONS = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # MIB's circuit sizes
VALUES_PER_FORWARD = 2**26  # stacked sender differences (variants x batch x pos x sender x d_model) per edge forward


@dataclass(frozen=True, eq=False)
class FaithfulnessCurve:
    """Faithfulness of the pruned top-k circuits; `fractions` are the edges kept after pruning."""

    requested: Float[Tensor, " size"]
    fractions: Float[Tensor, " size"]
    faithfulness: Float[Tensor, " size"]
    rows: Float[Tensor, "size batch"]
    circuits: tuple[Circuit, ...]

    @property
    def cpr(self) -> float:
        """Area under faithfulness over the fraction of edges (MIB's CPR; higher is better)."""
        return _area(self.fractions, self.faithfulness)

    @property
    def cmd(self) -> float:
        """Area between faithfulness and 1 over the fraction of edges (MIB's CMD; lower is better)."""
        return _area(self.fractions, (1 - self.faithfulness).abs())

    def smallest(self, at_least: float) -> Circuit | None:
        """The smallest circuit of the curve whose faithfulness reaches `at_least` (None if none does)."""
        for index in self.fractions.argsort().tolist():
            if float(self.faithfulness[index]) >= at_least:
                return self.circuits[index]
        return None


def _area(x: Tensor, y: Tensor) -> float:
    order = x.argsort()
    return float(torch.trapezoid(y[order].double(), x[order].double()))


def circuit_rows(problem: EdgeProblem, circuits: list[Circuit]) -> Float[Tensor, "circuit batch"]:
    """The metric per prompt of each circuit, on the problem's base run with everything else from the other run."""
    if not circuits:
        return torch.empty(0, problem.base.tokens.shape[0])
    batch, pos = problem.base.tokens.shape
    per_variant = batch * pos * len(problem.graph.senders) * problem.base.senders.shape[-1]
    chunk = max(1, VALUES_PER_FORWARD // per_variant)
    out = []
    with torch.no_grad():
        for lo in range(0, len(circuits), chunk):
            masks = torch.stack([c.mask() for c in circuits[lo : lo + chunk]])
            out.append(
                edge_forward(problem.w, problem.graph, problem.base.tokens, problem.other, masks, problem.metric).metric_rows
            )
    return torch.cat(out)


def faithfulness(
    model,
    clean_or_task: Int[Tensor, "batch pos"] | Task,
    circuits: Circuit | list[Circuit],
    corrupted: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
) -> Float[Tensor, " circuit"]:
    """Faithfulness of each circuit (as given: prune first if dangling edges should not count)."""
    circuits = [circuits] if isinstance(circuits, Circuit) else list(circuits)
    problem = prepare(model, clean_or_task, corrupted, metric, direction="noising")
    return problem.faithfulness(circuit_rows(problem, circuits))


def faithfulness_curve(
    model,
    clean_or_task: Int[Tensor, "batch pos"] | Task,
    scores: Float[Tensor, " edge"],
    corrupted: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
    *,
    fractions: tuple[float, ...] = FRACTIONS,
    absolute: bool = True,
) -> FaithfulnessCurve:
    """Faithfulness of the pruned top-k circuits of `scores` at each fraction of the edges (k rounded)."""
    problem = prepare(model, clean_or_task, corrupted, metric, direction="noising")
    graph = problem.graph
    circuits = [Circuit.top_k(graph, scores, round(f * graph.n_edges), absolute=absolute).pruned() for f in fractions]
    rows = circuit_rows(problem, circuits)
    return FaithfulnessCurve(
        requested=torch.tensor(fractions, dtype=torch.float32),
        fractions=torch.tensor([c.fraction for c in circuits], dtype=torch.float32),
        faithfulness=problem.faithfulness(rows),
        rows=rows,
        circuits=tuple(circuits),
    )
