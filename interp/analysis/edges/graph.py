"""The computational graph of a model at head granularity: who writes into the residual stream, who reads it.

Senders write: the input (token plus position embedding), every attention head (its z @ W_O), every MLP.
Receivers read: every head at its query, key and value inputs separately, every MLP at its input, and the logits.
An edge joins a sender to every receiver after it, through the residual stream: a head of layer L reads the
input, the heads of layers < L and the MLPs of layers < L; the MLP of layer L also reads layer L's heads; the
logits read everything. Attention biases (b_O) are in the stream but are no sender: clean and corrupted runs
share them.

Edges are numbered receiver by receiver (in the order the forward reaches them), senders in order within each
receiver; `edges` names them "L0H1->L1H3.k", "input->L0H0.q", "MLP0->logits".

>>> graph = Graph(n_layers=2, n_heads=4, attn_only=True)
>>> graph.n_edges, graph.senders[:3], graph.receivers[-1]
(81, ('input', 'L0H0', 'L0H1'), 'logits')
>>> graph.edges[0], graph.edges[-1]
('input->L0H0.q', 'L1H3->logits')
>>> Graph(n_layers=4, n_heads=4, attn_only=True).n_edges, Graph(n_layers=1, n_heads=2, attn_only=False).n_edges
(353, 13)
"""

from dataclasses import dataclass
from functools import cached_property

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from interp.core.errors import DataError

PARTS = ("q", "k", "v")


@dataclass(frozen=True)
class Graph:
    """Senders, receivers and edges of a model with `n_layers` blocks of `n_heads` heads (and MLPs unless
    `attn_only`)."""

    n_layers: int
    n_heads: int
    attn_only: bool

    @classmethod
    def of(cls, model) -> "Graph":
        """The graph of a native bridge (or anything with cfg.n_layers, cfg.n_heads, cfg.attn_only)."""
        cfg = model.cfg
        return cls(int(cfg.n_layers), int(cfg.n_heads), bool(cfg.attn_only))

    # ---- senders and receivers -------------------------------------------------------------------------

    @cached_property
    def senders(self) -> tuple[str, ...]:
        names = ["input"]
        for layer in range(self.n_layers):
            names += [f"L{layer}H{head}" for head in range(self.n_heads)]
            if not self.attn_only:
                names.append(f"MLP{layer}")
        return tuple(names)

    @cached_property
    def receivers(self) -> tuple[str, ...]:
        names = []
        for layer in range(self.n_layers):
            names += [f"L{layer}H{head}.{part}" for part in PARTS for head in range(self.n_heads)]
            if not self.attn_only:
                names.append(f"MLP{layer}")
        return (*names, "logits")

    @property
    def per_layer(self) -> int:
        """Senders per block: its heads, and its MLP."""
        return self.n_heads + (0 if self.attn_only else 1)

    def head_sender(self, layer: int, head: int) -> int:
        return 1 + layer * self.per_layer + head

    def mlp_sender(self, layer: int) -> int:
        return 1 + layer * self.per_layer + self.n_heads

    def head_receiver(self, layer: int, part: str, head: int) -> int:
        """Index of head `head`'s `part` (q, k or v) input in `receivers`."""
        return layer * (3 * self.n_heads + (0 if self.attn_only else 1)) + PARTS.index(part) * self.n_heads + head

    def mlp_receiver(self, layer: int) -> int:
        return layer * (3 * self.n_heads + 1) + 3 * self.n_heads

    @property
    def logits_receiver(self) -> int:
        return len(self.receivers) - 1

    def upstream(self, receiver: int) -> int:
        """How many senders (the first ones) receiver `receiver` reads."""
        name = self.receivers[receiver]
        if name == "logits":
            return len(self.senders)
        layer = int(name[3:]) if name.startswith("MLP") else int(name[1 : name.index("H")])
        return 1 + layer * self.per_layer + (self.n_heads if name.startswith("MLP") else 0)

    # ---- edges -------------------------------------------------------------------------------------------

    @cached_property
    def allowed(self) -> Bool[Tensor, "receiver sender"]:
        """True where an edge joins the sender to the receiver."""
        allowed = torch.zeros(len(self.receivers), len(self.senders), dtype=torch.bool)
        for receiver in range(len(self.receivers)):
            allowed[receiver, : self.upstream(receiver)] = True
        return allowed

    @cached_property
    def edge_index(self) -> Int[Tensor, "edge 2"]:
        """(receiver, sender) of every edge, in edge order."""
        return self.allowed.nonzero()

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[0])

    @cached_property
    def edges(self) -> tuple[str, ...]:
        return tuple(f"{self.senders[s]}->{self.receivers[r]}" for r, s in self.edge_index.tolist())

    def edge(self, name: str) -> int:
        """The index of the edge named "SENDER->RECEIVER"."""
        try:
            return self._edge_numbers[name]
        except KeyError:
            raise DataError(f"no edge {name!r} in this graph; edges look like {self.edges[0]!r} or {self.edges[-1]!r}") from None

    @cached_property
    def _edge_numbers(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.edges)}

    def to_matrix(self, values: Tensor, fill: float = 0.0) -> Tensor:
        """[... edge] values as [... receiver sender], `fill` where no edge is."""
        out = torch.full((*values.shape[:-1], *self.allowed.shape), fill, dtype=values.dtype)
        out[..., self.edge_index[:, 0], self.edge_index[:, 1]] = values
        return out

    def receiver_node(self, receiver: int) -> str:
        """The node a receiver belongs to: "L1H0.q" -> "L1H0"; MLPs and the logits are their own node."""
        return self.receivers[receiver].split(".")[0]

    def to_dict(self) -> dict:
        return {"n_layers": self.n_layers, "n_heads": self.n_heads, "attn_only": self.attn_only}
