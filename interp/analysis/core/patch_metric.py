"""The metric patching reads: a logit difference at one position per row, and its clean = 1 / corrupted = 0 scale.

`LogitDiff` says which positions the metric reads, so batched patching computes (and unembeds) only those, and
is also a plain scalar metric on full logits for TransformerLens's patching functions.

>>> metric = LogitDiff(correct=torch.tensor([3, 7]), wrong=torch.tensor([4, 5]), positions=torch.tensor([4, 2]))
>>> logits = torch.zeros(2, 5, 11); logits[0, 4, 3] = 2.0; logits[1, 2, 5] = -2.0
>>> metric.per_row(logits), metric(logits)       # IO minus S at each prompt's end position; the mean over rows
(tensor([2., 2.]), tensor(2.))
>>> normalised(torch.tensor(1.6), clean=3.2, corrupted=0.0)
tensor(0.5000)
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.errors import DataError


@dataclass(frozen=True, eq=False)
class LogitDiff:
    """Per row: logit(correct) - logit(wrong) at `positions`. Calling it on logits gives the mean over rows."""

    correct: Int[Tensor, " batch"]
    wrong: Int[Tensor, " batch"]
    positions: Int[Tensor, " batch"]

    def __post_init__(self) -> None:
        shapes = {tuple(t.shape) for t in (self.correct, self.wrong, self.positions)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise DataError(f"correct, wrong and positions must be 1-D tensors of one length each, got shapes {sorted(shapes)}")

    @classmethod
    def ioi(cls, prompts) -> "LogitDiff":
        """IO minus S at the end position of each IOI prompt (`interp.tasks.ioi.prompts.IOIPrompts`)."""
        return cls(correct=prompts.io, wrong=prompts.s, positions=prompts.end_pos)

    def __len__(self) -> int:
        return self.correct.shape[0]

    @property
    def columns(self) -> Int[Tensor, "batch 2"]:
        """Per row, the vocabulary entries the metric reads (correct, wrong): all of the unembedding it needs."""
        return torch.stack([self.correct, self.wrong], dim=-1)

    def from_columns(self, picked: Float[Tensor, "... batch 2"]) -> Float[Tensor, "... batch"]:
        """Per-row values from the logits of `columns` only (any leading axes)."""
        return picked[..., 0] - picked[..., 1]

    def from_final(self, final: Float[Tensor, "... batch vocab"]) -> Float[Tensor, "... batch"]:
        """Per-row values from the logits at the read positions (any leading axes, e.g. stacked patches)."""
        return self.from_columns(final.gather(-1, self.columns.expand(*final.shape[:-1], 2)))

    def per_row(self, logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, " batch"]:
        return self.from_final(logits[torch.arange(logits.shape[0]), self.positions])

    def __call__(self, logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, ""]:
        return self.per_row(logits).mean()


def normalised(value: Tensor | float, clean: float, corrupted: float) -> Tensor:
    """(value - corrupted) / (clean - corrupted): 1 where the clean run's metric is recovered, 0 at the corrupted."""
    if clean == corrupted:
        raise DataError("the clean and corrupted runs score the same, so patching effects cannot be normalised; use another corruption")
    return (torch.as_tensor(value, dtype=torch.float32) - corrupted) / (clean - corrupted)
