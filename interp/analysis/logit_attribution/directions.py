"""The logit direction a direct logit attribution reads: per row, an answer token minus a distractor token (or
one token alone), at one position of the row.

A `Task` gives both: its metric's correct token is the answer, its wrong token the distractor, its positions the
read positions (`task_direction`). One token for every row is `token_direction`; `parse_direction` turns the
CLI's `--direction` text ("answer-distractor", "answer", "token:TEXT" or "id:N") into one of these.

>>> from interp.analysis.core.metrics import LogitDiff
>>> from interp.analysis.core.task import Task
>>> task = Task(clean=torch.tensor([[1, 2, 3]]), corrupted=torch.tensor([[1, 4, 3]]),
...     metric=LogitDiff(correct=torch.tensor([2]), wrong=torch.tensor([4]), positions=torch.tensor([1])))
>>> direction = task_direction(task)
>>> direction.label, direction.answer.tolist(), direction.distractor.tolist(), direction.positions.tolist()
('answer - distractor', [2], [4], [1])
>>> logits = torch.zeros(1, 3, 5); logits[0, 1, 2] = 3.0
>>> direction.of_logits(logits)
tensor([3.])
>>> parse_direction("id:7", task, d_vocab=5)
Traceback (most recent call last):
    ...
interp.core.errors.DataError: token id 7 is outside the model's vocabulary of 5 (ids 0..4)
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.task import Task
from interp.core.errors import DataError

KINDS = ("answer-distractor", "answer")


@dataclass(frozen=True, eq=False)
class LogitDirection:
    """What row b's logits are read for: logit(answer[b]) - logit(distractor[b]) (or logit(answer[b]) alone when
    `distractor` is None) at position positions[b]."""

    answer: Int[Tensor, " batch"]
    distractor: Int[Tensor, " batch"] | None
    positions: Int[Tensor, " batch"]
    label: str

    def __post_init__(self) -> None:
        tensors = [self.answer, self.positions] + ([] if self.distractor is None else [self.distractor])
        if not all(isinstance(t, Tensor) and t.ndim == 1 and not t.dtype.is_floating_point for t in tensors):
            raise DataError("a logit direction needs 1-D integer tensors: answer, positions and (optionally) distractor")
        if len({t.shape[0] for t in tensors}) != 1:
            raise DataError(f"answer, distractor and positions must have one entry per row, got {[t.shape[0] for t in tensors]}")

    def __len__(self) -> int:
        return self.answer.shape[0]

    def check(self, d_vocab: int, n_pos: int) -> "LogitDirection":
        """Raise DataError unless every token id fits the vocabulary and every position the rows."""
        for name in ("answer", "distractor"):
            ids = getattr(self, name)
            if ids is not None and (int(ids.min()) < 0 or int(ids.max()) >= d_vocab):
                raise DataError(
                    f"{name} token ids {int(ids.min())}..{int(ids.max())} do not fit the model's vocabulary of {d_vocab}"
                )
        if int(self.positions.min()) < 0 or int(self.positions.max()) >= n_pos:
            raise DataError(
                f"read positions must be in [0, {n_pos}), got {int(self.positions.min())}..{int(self.positions.max())}"
            )
        return self

    def to(self, device: torch.device | str) -> "LogitDirection":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return LogitDirection(move(self.answer), move(self.distractor), move(self.positions), self.label)

    def unembed_vectors(self, w_unembed: Float[Tensor, "vocab d_model"]) -> Float[Tensor, "batch d_model"]:
        """Per row, the unembedding direction whose dot product with the final (normalised) stream is the read value."""
        vectors = w_unembed[self.answer]
        return vectors if self.distractor is None else vectors - w_unembed[self.distractor]

    def of_vocab(self, values: Float[Tensor, "batch vocab"]) -> Float[Tensor, " batch"]:
        """Per row, answer minus distractor (or the answer alone) of a [batch vocab] table (logits, a bias)."""
        picked = values.gather(-1, self.answer[:, None]).squeeze(-1)
        if self.distractor is None:
            return picked
        return picked - values.gather(-1, self.distractor[:, None]).squeeze(-1)

    def of_logits(self, logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, " batch"]:
        """The read value in the model's logits: what the attribution decomposes."""
        rows = torch.arange(logits.shape[0], device=logits.device)
        return self.of_vocab(logits[rows, self.positions.to(logits.device)])


def task_direction(task: Task, kind: str = "answer-distractor") -> LogitDirection:
    """The task metric's answer minus its distractor ("answer-distractor"), or its answer alone ("answer"), at its
    read positions."""
    if kind not in KINDS:
        raise DataError(f"unknown direction {kind!r}; choose {', '.join(KINDS)}, token:TEXT or id:N")
    metric = task.metric
    positions = metric.positions
    if kind == "answer":
        return LogitDirection(metric.correct.long(), None, positions.long(), "answer")
    return LogitDirection(metric.correct.long(), metric.wrong.long(), positions.long(), "answer - distractor")


def token_direction(token: int, positions: Int[Tensor, " batch"], *, label: str | None = None) -> LogitDirection:
    """The logit of one token in every row, at `positions`."""
    positions = torch.as_tensor(positions).long()
    return LogitDirection(torch.full_like(positions, int(token)), None, positions, label or f"token {token}")


def parse_direction(text: str, task: Task, *, d_vocab: int, tokenizer=None) -> LogitDirection:
    """The direction `--direction` names, read at the task's positions: "answer-distractor", "answer",
    "token:TEXT" (TEXT must encode to exactly one token of `tokenizer`) or "id:N" (a token id)."""
    text = str(text)
    if text in KINDS:
        return task_direction(task, text)
    if text.startswith("id:"):
        try:
            token = int(text.removeprefix("id:"))
        except ValueError:
            raise DataError(f"--direction id:N needs an integer token id, got {text!r}") from None
        if not 0 <= token < d_vocab:
            raise DataError(f"token id {token} is outside the model's vocabulary of {d_vocab} (ids 0..{d_vocab - 1})")
        return token_direction(token, task.metric.positions, label=f"token id {token}")
    if text.startswith("token:"):
        word = text.removeprefix("token:")
        if tokenizer is None:
            raise DataError("the checkpoint records no tokenizer, so token:TEXT cannot be encoded; give id:N instead")
        try:
            ids = tokenizer.encode(word)
        except (KeyError, ValueError) as error:
            raise DataError(f"{word!r} cannot be encoded by the run's tokenizer ({error}); give id:N instead") from None
        if len(ids) != 1:
            raise DataError(f"{word!r} is {len(ids)} tokens of the run's tokenizer, not one; give a single token or id:N")
        if not 0 <= ids[0] < d_vocab:
            raise DataError(f"{word!r} is token {ids[0]}, outside the model's vocabulary of {d_vocab}")
        return token_direction(ids[0], task.metric.positions, label=f"token {word!r}")
    raise DataError(f"unknown direction {text!r}; choose {', '.join(KINDS)}, token:TEXT or id:N")
