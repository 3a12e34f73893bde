"""What a direct logit attribution returns: every component's share of a logit direction, per row, per position,
and for heads per source position; with means and standard errors over rows.

The decomposition is exact. With the final normalisation's per-token scale s taken from the cached run, the read
value of row b (logit(answer) - logit(distractor) at its read position p) is

    value[b] = sum over components c of  c[b, p] . u[b, p]  +  ln_final.b . d[b]  +  b_U[answer] - b_U[distractor]

where d[b] = W_U[:, answer] - W_U[:, distractor], u[b, p] = centre(ln_final.w * d[b]) / s[b, p] (no centring for
RMS norms; w = 1, no bias for the Pre kinds and for no norm). The components are the token and positional
embeddings, each attention layer's output (= its heads' z @ W_O plus its bias b_O) and each MLP's output.

>>> rows, layers, heads, pos = 2, 1, 2, 3
>>> result = LogitAttribution(
...     direction="answer - distractor", component_labels=("embed", "attn0"), bias_labels=BIAS_LABELS,
...     components_by_position=torch.ones(rows, 2, pos), heads_by_position=torch.full((rows, layers, heads, pos), 0.25),
...     head_biases_by_position=torch.full((rows, layers, pos), 0.5), biases=torch.zeros(rows, 2),
...     by_source=torch.full((rows, layers, heads, pos), 0.25 / pos), logit_value=torch.full((rows,), 2.0),
...     positions=torch.tensor([2, 1]))
>>> result.components.tolist(), result.total.tolist(), result.error
([[1.0, 1.0], [1.0, 1.0]], [2.0, 2.0], 0.0)
>>> mean, sem = result.mean_sem("heads")
>>> mean.tolist(), sem.tolist()
([[0.25, 0.25]], [[0.0, 0.0]])
"""

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.errors import DataError

BIAS_LABELS = ("ln_final.b", "b_U")  # the two terms no component writes: the final norm's bias and the unembedding's
SUMMARIES = ("heads", "components", "head_biases", "biases", "logit_value", "total")


def mean_sem(values: Tensor, dim: int = 0) -> tuple[Tensor, Tensor]:
    """The mean over `dim` and its standard error (sample standard deviation / sqrt(n); 0 for a single row).

    >>> mean_sem(torch.tensor([1.0, 3.0]))
    (tensor(2.), tensor(1.))
    """
    n = values.shape[dim]
    mean = values.mean(dim)
    if n < 2:
        return mean, torch.zeros_like(mean)
    return mean, values.std(dim, correction=1) / math.sqrt(n)


def _at(values: Tensor, positions: Tensor) -> Tensor:
    """values[b, ..., positions[b]] for every row b (the last axis is the position)."""
    index = positions.view(-1, *([1] * (values.ndim - 1))).expand(*values.shape[:-1], 1)
    return values.gather(-1, index).squeeze(-1)


@dataclass(frozen=True, eq=False)
class LogitAttribution:
    """Direct logit attribution of one logit direction on a batch of rows (tensors on the CPU).

    `*_by_position` hold each component's attribution at every position p of the row (the row's direction, that
    position's norm scale), what TransformerLens's `direct_logit_attribution(..., pos=None)` returns; the read
    values (`components`, `heads`, ...) are these at the row's read position. `by_source` splits each head's
    attribution at the read position by the key position it reads from (attention weight times value, exact:
    it sums to `heads`).
    """

    direction: str
    component_labels: tuple[str, ...]  # embed, pos_embed (absent with rotary), attn0, mlp0, attn1, ...
    bias_labels: tuple[str, ...]
    components_by_position: Float[Tensor, "batch component pos"]
    heads_by_position: Float[Tensor, "batch layer head pos"]
    head_biases_by_position: Float[Tensor, "batch layer pos"]  # b_O's share of each attention component
    biases: Float[Tensor, "batch bias"]  # at the read position (they do not depend on the position's stream)
    by_source: Float[Tensor, "batch layer head key_pos"]
    logit_value: Float[Tensor, " batch"]  # the direction read off the model's own logits
    positions: Int[Tensor, " batch"]
    position_labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.component_labels) != self.components_by_position.shape[1]:
            raise DataError(
                f"{len(self.component_labels)} component labels for {self.components_by_position.shape[1]} components"
            )

    @property
    def n_rows(self) -> int:
        return self.logit_value.shape[0]

    @property
    def components(self) -> Float[Tensor, "batch component"]:
        return _at(self.components_by_position, self.positions)

    @property
    def heads(self) -> Float[Tensor, "batch layer head"]:
        return _at(self.heads_by_position, self.positions)

    @property
    def head_biases(self) -> Float[Tensor, "batch layer"]:
        return _at(self.head_biases_by_position, self.positions)

    @property
    def total(self) -> Float[Tensor, " batch"]:
        """Components plus biases: equal to `logit_value` up to float rounding (the decomposition is exact)."""
        return self.components.sum(-1) + self.biases.sum(-1)

    @property
    def error(self) -> float:
        """The largest |components + biases - logit value| over rows."""
        return float((self.total - self.logit_value).abs().max())

    def mean_sem(self, name: str) -> tuple[Tensor, Tensor]:
        """Mean over rows and its standard error of one of SUMMARIES (e.g. "heads" -> two [layer head] tensors)."""
        if name not in SUMMARIES:
            raise DataError(f"unknown attribution summary {name!r}; choose one of {', '.join(SUMMARIES)}")
        return mean_sem(getattr(self, name).double())

    def component_rows(self) -> list[dict]:
        """A table: every component and bias with its mean attribution and standard error, and the logit value."""
        rows = []
        for labels, name in ((self.component_labels, "components"), (self.bias_labels, "biases")):
            mean, sem = self.mean_sem(name)
            rows += [{"part": label, "mean": float(m), "sem": float(s)} for label, m, s in zip(labels, mean, sem)]
        for label, name in (("sum of the parts", "total"), ("logit value (model)", "logit_value")):
            mean, sem = self.mean_sem(name)
            rows.append({"part": label, "mean": float(mean), "sem": float(sem)})
        return rows

    def top_heads(self, n: int = 5) -> list[tuple[str, float, float]]:
        """The n heads of largest |mean attribution|: (L{layer}H{head}, mean, standard error)."""
        mean, sem = self.mean_sem("heads")
        order = mean.abs().flatten().argsort(descending=True)[:n].tolist()
        n_heads = mean.shape[1]
        return [(f"L{i // n_heads}H{i % n_heads}", float(mean.flatten()[i]), float(sem.flatten()[i])) for i in order]
