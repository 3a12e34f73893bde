"""Edge scores, as every method returns them: one value per edge of the graph, and the run they came from.

`scores` are shares of the clean-corrupted gap (interp.analysis.edges.problem); `effects` the same in metric
units (what stays comparable across checkpoints whose gap differs); `rows`, where a method has them, the effect
per prompt [edge batch].
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.edges.graph import Graph


@dataclass(frozen=True, eq=False)
class EdgeScores:
    graph: Graph
    method: str
    direction: str
    effects: Float[Tensor, " edge"]
    clean: float
    corrupted: float
    rows: Float[Tensor, "edge batch"] | None = None
    seconds: float = 0.0

    @property
    def scores(self) -> Float[Tensor, " edge"]:
        return self.effects / (self.clean - self.corrupted)

    def top(self, k: int = 10) -> list[tuple[str, float]]:
        """The k edges of largest |score|, with their scores."""
        order = self.scores.abs().argsort(descending=True)[:k]
        return [(self.graph.edges[i], float(self.scores[i])) for i in order]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name} {score:+.3f}" for name, score in self.top(3))
        return f"EdgeScores({self.method}, {self.direction}, {self.graph.n_edges} edges; top: {shown})"


def as_scores(problem, method: str, effect_rows: Float[Tensor, "edge batch"] | None, effects=None, seconds=0.0) -> EdgeScores:
    """EdgeScores of a prepared problem from per-row effects (or mean effects alone)."""
    mean = effect_rows.mean(dim=-1) if effects is None else effects
    return EdgeScores(
        graph=problem.graph,
        method=method,
        direction=problem.direction,
        effects=mean.detach().to(torch.float32),
        clean=problem.clean,
        corrupted=problem.corrupted,
        rows=None if effect_rows is None else effect_rows.detach(),
        seconds=seconds,
    )
