"""Circuits: sets of edges, chosen from edge scores by top-k or by threshold, with dangling edges pruned.

An edge stays in a pruned circuit only if it lies on a path from the input to the logits through edges of the
circuit: its sender is reached from the input, and its receiver's node (a head, through any of its q/k/v
inputs; an MLP; the logits) reaches the logits. One forward and one backward sweep over the receivers, in the
order the model computes them, decide both.

>>> graph = Graph(n_layers=2, n_heads=1, attn_only=True)
>>> circuit = Circuit.from_edges(graph, ["input->L0H0.v", "L0H0->L1H0.k", "L1H0->logits", "input->L1H0.q"])
>>> circuit.n_edges, circuit.pruned().n_edges                       # every edge is on a path: nothing to prune
(4, 4)
>>> Circuit.from_edges(graph, ["input->L0H0.v", "L1H0->logits"]).pruned().edge_names   # L0H0 and L1H0 dangle
()
>>> Circuit.from_edges(graph, ["input->L0H0.v"]).pruned(strict=True)
Traceback (most recent call last):
    ...
interp.core.errors.DataError: the circuit does not connect the input to the logits: no edge of its 1 lies on a path from input to logits
"""

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from interp.analysis.edges.graph import Graph
from interp.core.errors import DataError


@dataclass(frozen=True, eq=False)
class Circuit:
    """The edges of `graph` where `keep` is True."""

    graph: Graph
    keep: Bool[Tensor, " edge"]

    def __post_init__(self) -> None:
        if self.keep.shape != (self.graph.n_edges,) or self.keep.dtype != torch.bool:
            raise DataError(f"a circuit needs one boolean per edge ({self.graph.n_edges}), got {tuple(self.keep.shape)}")

    @classmethod
    def from_edges(cls, graph: Graph, names: Iterable[str]) -> "Circuit":
        keep = torch.zeros(graph.n_edges, dtype=torch.bool)
        keep[[graph.edge(name) for name in names]] = True
        return cls(graph, keep)

    @classmethod
    def top_k(cls, graph: Graph, scores: Float[Tensor, " edge"], k: int, absolute: bool = True) -> "Circuit":
        """The k edges of largest score (of largest |score| when `absolute`), before pruning."""
        if not 0 <= k <= graph.n_edges:
            raise DataError(f"k must be between 0 and the {graph.n_edges} edges, got {k}")
        keep = torch.zeros(graph.n_edges, dtype=torch.bool)
        keep[(scores.abs() if absolute else scores).argsort(descending=True, stable=True)[:k]] = True
        return cls(graph, keep)

    @classmethod
    def above(cls, graph: Graph, scores: Float[Tensor, " edge"], threshold: float, absolute: bool = True) -> "Circuit":
        """The edges whose score (|score| when `absolute`) is at least `threshold`, before pruning."""
        return cls(graph, (scores.abs() if absolute else scores) >= threshold)

    @property
    def n_edges(self) -> int:
        return int(self.keep.sum())

    @property
    def fraction(self) -> float:
        return self.n_edges / self.graph.n_edges

    @property
    def edge_names(self) -> tuple[str, ...]:
        return tuple(self.graph.edges[i] for i in self.keep.nonzero().flatten().tolist())

    def mask(self) -> Float[Tensor, "receiver sender"]:
        """The edge-forward mask: 1 on the circuit's edges (base run), 0 elsewhere (the other run)."""
        return self.graph.to_matrix(self.keep.float())

    def pruned(self, strict: bool = False) -> "Circuit":
        """The circuit without dangling edges; `strict` raises when nothing connects the input to the logits."""
        kept = self.keep & on_paths(self.graph, self.keep)
        if strict and not kept.any():
            raise DataError(
                f"the circuit does not connect the input to the logits: no edge of its {self.n_edges} lies on a path from input to logits"
            )
        return Circuit(self.graph, kept)


def on_paths(graph: Graph, keep: Bool[Tensor, " edge"]) -> Bool[Tensor, " edge"]:
    """Per edge: whether its sender is reached from the input and its receiver's node reaches the logits, through
    edges where `keep` is True."""
    reached, reaching = reached_from_input(graph, keep), reaching_logits(graph, keep)
    return torch.tensor(
        [graph.senders[s] in reached and graph.receiver_node(r) in reaching for r, s in graph.edge_index.tolist()]
    )


def _edges_by_receiver(graph: Graph, keep: Bool[Tensor, " edge"]) -> list[list[int]]:
    """Per receiver, the senders of its kept edges."""
    senders: list[list[int]] = [[] for _ in graph.receivers]
    for (receiver, sender), kept in zip(graph.edge_index.tolist(), keep.tolist()):
        if kept:
            senders[receiver].append(sender)
    return senders


def reached_from_input(graph: Graph, keep: Bool[Tensor, " edge"]) -> set[str]:
    """The nodes a path of kept edges leads to from the input (the input included)."""
    reached = {"input"}
    for receiver, senders in enumerate(_edges_by_receiver(graph, keep)):
        if any(graph.senders[s] in reached for s in senders):
            reached.add(graph.receiver_node(receiver))
    return reached


def reaching_logits(graph: Graph, keep: Bool[Tensor, " edge"]) -> set[str]:
    """The nodes with a path of kept edges to the logits (the logits included)."""
    reaching = {"logits"}
    by_receiver = _edges_by_receiver(graph, keep)
    for receiver in reversed(range(len(graph.receivers))):
        if graph.receiver_node(receiver) in reaching:
            reaching.update(graph.senders[s] for s in by_receiver[receiver])
    return reaching
