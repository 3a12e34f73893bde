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
    """Rescale a metric so the clean run scores 1 and the corrupted run 0: (value - corrupted) / (clean - corrupted).

    The one normaliser of interp: patching results (`PatchingResult.normalised`) and ablations use it. Python
    floats stay floats (the difference is taken in double precision), tensors are taken as float32.

    >>> normalise(torch.tensor(2.0), clean=4.0, corrupted=0.0)
    tensor(0.5000)
    """
    clean, corrupted = (x.float() if isinstance(x, Tensor) else x for x in (clean, corrupted))
    span = clean - corrupted
    if bool(torch.any(torch.as_tensor(span) == 0)):
        raise DataError("the clean and corrupted runs score the same, so the metric cannot be normalised; use another corruption")
    return (torch.as_tensor(value, dtype=torch.float32) - corrupted) / span


# ---- row metrics for ablation studies ---------------------------------------------------------------------


def loss_metric(logits: Tensor, tokens: Tensor, rows: Tensor) -> Float[Tensor, " batch"]:
    """Mean next-token loss of each row."""
    return per_token_loss(logits, tokens).mean(dim=-1)


@dataclass(frozen=True, eq=False)
class LogitDiff:
    """Per row: logit(correct) - logit(wrong) at `positions` (one per row, or one int for every row; negative
    counts from the end). The one logit-difference metric of interp:

    - called on logits it gives the mean over rows (a scalar, as TransformerLens's patching functions expect);
    - `per_row(logits)` gives one value per row; `per_row(logits, rows)` reads the answers of dataset rows `rows`
      (what `ablation_study(metric=LogitDiff(...))` does with its mini-batches and stacked ablations);
    - `columns` / `from_columns` let batched patching compute only the two logits each row reads.

    >>> logits = torch.zeros(2, 3, 5); logits[0, -1, 1] = 2.0; logits[1, -1, 4] = 1.0
    >>> metric = LogitDiff(correct=torch.tensor([1, 4]), wrong=torch.tensor([0, 0]), positions=torch.tensor([2, 2]))
    >>> metric.per_row(logits), metric(logits)
    (tensor([2., 1.]), tensor(1.5000))
    >>> LogitDiff(correct=torch.tensor([1, 4]), wrong=torch.tensor([0, 0])).per_row(logits[1:], rows=torch.tensor([1]))
    tensor([1.])
    """

    correct: Int[Tensor, " batch"]
    wrong: Int[Tensor, " batch"]
    positions: Int[Tensor, " batch"] | int = -1

    def __post_init__(self) -> None:
        if isinstance(self.positions, int) and not isinstance(self.positions, bool) and isinstance(self.correct, Tensor):
            object.__setattr__(self, "positions", torch.full_like(self.correct, self.positions))
        if not all(isinstance(t, Tensor) for t in (self.correct, self.wrong, self.positions)):
            raise DataError("correct, wrong and positions must be tensors (positions may be one int for every row)")
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

    def per_row(
        self, logits: Float[Tensor, "batch pos vocab"], rows: Int[Tensor, " batch"] | None = None
    ) -> Float[Tensor, " batch"]:
        """One value per row of `logits`; with `rows`, row i of `logits` is dataset row rows[i]."""
        metric = (
            self
            if rows is None
            else LogitDiff(correct=self.correct[rows], wrong=self.wrong[rows], positions=self.positions[rows])
        )
        return metric.from_final(logits[torch.arange(logits.shape[0]), metric.positions])

    def __call__(self, logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, ""]:
        return self.per_row(logits).mean()


@dataclass(frozen=True, eq=False)
class AccuracyMetric:
    """Row metric: 1.0 where the answer token is the top prediction at the read position."""

    answers: Int[Tensor, " row"]
    position: int | Int[Tensor, " row"] = -1

    def __call__(self, logits: Tensor, tokens: Tensor, rows: Tensor) -> Float[Tensor, " batch"]:
        position = self.position if isinstance(self.position, int) else self.position[rows]
        return answer_accuracy(logits, self.answers[rows], position)


METRICS: dict[str, Metric] = {"loss": loss_metric}


def resolve_metric(metric: "str | Metric | LogitDiff") -> tuple[str, Metric]:
    """A (name, row metric) pair from a metric name ('loss'), a `LogitDiff`, or a row-metric callable."""
    if isinstance(metric, LogitDiff):
        return "LogitDiff", lambda logits, tokens, rows: metric.per_row(logits, rows)
    if isinstance(metric, str):
        if metric not in METRICS:
            raise DataError(f"unknown metric {metric!r}; built in: {', '.join(METRICS)} (or pass a callable)")
        return metric, METRICS[metric]
    if not callable(metric):
        raise DataError(f"metric must be a name or a callable (logits, tokens, rows) -> per-row values, got {metric!r}")
    return getattr(metric, "__name__", type(metric).__name__), metric
