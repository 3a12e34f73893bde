"""Vectorised metrics on logits: next-token loss, logit difference, accuracy, and normalisation.

Row metrics (`Metric`) take `(logits, tokens, rows)` and return one value per row, so results average
correctly over mini-batches and over ablations stacked along the batch axis; `rows` are the indices of these
rows in the whole dataset, which a task metric uses to look up its per-row answers.

>>> tokens = torch.randint(11, (8, 32), generator=torch.Generator().manual_seed(0))
>>> logits = torch.zeros(8, 32, 11)                   # uniform predictions
>>> per_token_loss(logits, tokens).shape              # the last position predicts nothing
torch.Size([8, 31])
>>> round(mean_loss(logits, tokens).item(), 4)        # log(11)
2.3979
>>> normalise(torch.tensor([3.2, -0.1, 1.55]), clean=3.2, corrupted=-0.1)   # clean -> 1, corrupted -> 0
tensor([1.0000, 0.0000, 0.5000])
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from interp.core.errors import DataError
from interp.model.losses import per_token_loss

Metric = Callable[[Tensor, Tensor, Tensor], Tensor]  # (logits, tokens, rows) -> Float[Tensor, " batch"]


def mean_loss(logits: Float[Tensor, "batch pos vocab"], tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, ""]:
    """Mean next-token loss over all predicted tokens (what training reports)."""
    return per_token_loss(logits, tokens).mean()


def _at_positions(logits: Tensor, position: int | Tensor) -> Float[Tensor, "batch vocab"]:
    """logits[row, position[row]] for every row; an int position is used for all rows (negative counts from the end)."""
    batch = logits.shape[0]
    if isinstance(position, int):
        return logits[:, position]
    position = torch.as_tensor(position, device=logits.device)
    if position.shape != (batch,):
        raise DataError(f"position must be an int or one index per row ({batch}), got shape {tuple(position.shape)}")
    return logits[torch.arange(batch, device=logits.device), position]


def logit_diff(
    logits: Float[Tensor, "batch pos vocab"],
    correct: Int[Tensor, " batch"],
    incorrect: Int[Tensor, " batch"],
    position: int | Int[Tensor, " batch"] = -1,
) -> Float[Tensor, " batch"]:
    """logit(correct) - logit(incorrect) at `position` of each row (e.g. IO minus S at the last real token).

    >>> logits = torch.zeros(2, 5, 11); logits[0, 4, 3] = 2.0; logits[1, 2, 7] = -1.0
    >>> io_ids, s_ids, last_index = torch.tensor([3, 7]), torch.tensor([4, 5]), torch.tensor([4, 2])
    >>> logit_diff(logits, io_ids, s_ids, position=last_index)
    tensor([ 2., -1.])
    """
    final = _at_positions(logits, position)
    return final.gather(-1, correct[:, None]).squeeze(-1) - final.gather(-1, incorrect[:, None]).squeeze(-1)


def answer_accuracy(
    logits: Float[Tensor, "batch pos vocab"], answers: Int[Tensor, " batch"], position: int | Int[Tensor, " batch"] = -1
) -> Float[Tensor, " batch"]:
    """1.0 where the top logit at `position` is the answer token, else 0.0 (mean it for accuracy)."""
    return (_at_positions(logits, position).argmax(-1) == answers).float()


def next_token_accuracy(
    logits: Float[Tensor, "batch pos vocab"], tokens: Int[Tensor, "batch pos"], mask: Bool[Tensor, "batch pos-1"] | None = None
) -> Float[Tensor, ""]:
    """Fraction of next tokens predicted by the top logit, over the positions where `mask` is True."""
    hits = (logits[:, :-1].argmax(-1) == tokens[:, 1:]).float()
    if mask is None:
        return hits.mean()
    if not mask.any():
        raise DataError("next_token_accuracy: the mask selects no positions")
    return hits[mask].mean()


def normalise(value: Tensor | float, clean: Tensor | float, corrupted: Tensor | float) -> Tensor:
    """Rescale a metric so the clean run scores 1 and the corrupted run 0.

    >>> normalise(torch.tensor(2.0), clean=4.0, corrupted=0.0)
    tensor(0.5000)
    """
    clean, corrupted = torch.as_tensor(clean, dtype=torch.float32), torch.as_tensor(corrupted, dtype=torch.float32)
    span = clean - corrupted
    if torch.any(span == 0):
        raise DataError("clean and corrupted metric values are equal, so the metric cannot be normalised")
    return (torch.as_tensor(value, dtype=torch.float32) - corrupted) / span


# ---- row metrics for ablation studies ---------------------------------------------------------------------


def loss_metric(logits: Tensor, tokens: Tensor, rows: Tensor) -> Float[Tensor, " batch"]:
    """Mean next-token loss of each row."""
    return per_token_loss(logits, tokens).mean(dim=-1)


@dataclass(frozen=True, eq=False)
class LogitDiffMetric:
    """Row metric: logit difference with per-row answers and read positions (indexed by dataset row)."""

    correct: Int[Tensor, " row"]
    incorrect: Int[Tensor, " row"]
    position: int | Int[Tensor, " row"] = -1

    def __call__(self, logits: Tensor, tokens: Tensor, rows: Tensor) -> Float[Tensor, " batch"]:
        position = self.position if isinstance(self.position, int) else self.position[rows]
        return logit_diff(logits, self.correct[rows], self.incorrect[rows], position)


@dataclass(frozen=True, eq=False)
class AccuracyMetric:
    """Row metric: 1.0 where the answer token is the top prediction at the read position."""

    answers: Int[Tensor, " row"]
    position: int | Int[Tensor, " row"] = -1

    def __call__(self, logits: Tensor, tokens: Tensor, rows: Tensor) -> Float[Tensor, " batch"]:
        position = self.position if isinstance(self.position, int) else self.position[rows]
        return answer_accuracy(logits, self.answers[rows], position)


METRICS: dict[str, Metric] = {"loss": loss_metric}


def resolve_metric(metric: "str | Metric") -> tuple[str, Metric]:
    """A (name, row metric) pair from a metric name ('loss') or a callable."""
    if isinstance(metric, str):
        if metric not in METRICS:
            raise DataError(f"unknown metric {metric!r}; built in: {', '.join(METRICS)} (or pass a callable)")
        return metric, METRICS[metric]
    if not callable(metric):
        raise DataError(f"metric must be a name or a callable (logits, tokens, rows) -> per-row values, got {metric!r}")
    return getattr(metric, "__name__", type(metric).__name__), metric
