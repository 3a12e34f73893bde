"""The Task interface: what every analysis comparing a clean run with a corrupted run reads.

A task is clean tokens [batch pos], corrupted tokens of the same shape (the same prompts with what the behaviour
needs destroyed), a metric that reads the logits at one position per row (`LogitDiff`), and a name for every
position. The patching functions take a task in place of their (clean, corrupted, metric) arguments.
`interp.tasks` builds the IOI and induction tasks; a new experiment is one short file that returns a `Task`
(README, "Define your own task"). It lives in the analysis layer so that analysis can accept tasks without
importing `interp.tasks`, which sits above it.

>>> task = Task(
...     clean=torch.tensor([[1, 2, 3]]),
...     corrupted=torch.tensor([[1, 4, 3]]),
...     metric=LogitDiff(correct=torch.tensor([2]), wrong=torch.tensor([4]), positions=torch.tensor([2])),
...     position_labels=("start", "X", "end"),
... )
>>> task.batch, task.pos
(1, 3)
>>> task_inputs(task, None, None)[2] is task.metric
True
"""

from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.core.errors import DataError


@dataclass(frozen=True, eq=False)
class Task:
    """Clean and corrupted tokens of one shape, the metric read on their logits, and a label per position.

    `position_labels` defaults to the position numbers ("0", "1", ...).
    """

    clean: Int[Tensor, "batch pos"]
    corrupted: Int[Tensor, "batch pos"]
    metric: LogitDiff
    position_labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("clean", "corrupted"):
            tokens = getattr(self, name)
            if not isinstance(tokens, Tensor) or tokens.ndim != 2 or tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
                shown = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
                raise DataError(f"Task.{name} must be a 2-D tensor of token ids [batch pos], got {shown}")
        if self.clean.shape != self.corrupted.shape:
            raise DataError(
                f"Task: clean {tuple(self.clean.shape)} and corrupted {tuple(self.corrupted.shape)} tokens must have the same shape"
            )
        if len(self.metric) != self.batch:
            raise DataError(f"Task: the metric reads {len(self.metric)} rows but the tokens have {self.batch}")
        positions = self.metric.positions
        if int(positions.min()) < 0 or int(positions.max()) >= self.pos:
            raise DataError(
                f"Task: metric positions must be in [0, {self.pos}), got {int(positions.min())}..{int(positions.max())}"
            )
        labels = tuple(str(i) for i in range(self.pos)) if self.position_labels is None else tuple(self.position_labels)
        if len(labels) != self.pos or not all(isinstance(label, str) for label in labels):
            raise DataError(f"Task: position_labels must be {self.pos} strings, one per position, got {len(labels)}")
        object.__setattr__(self, "position_labels", labels)  # frozen: set once, here

    @property
    def batch(self) -> int:
        return self.clean.shape[0]

    @property
    def pos(self) -> int:
        return self.clean.shape[1]

    @torch.no_grad()
    def baselines(self, model) -> tuple[float, float]:
        """The metric (mean over rows) on the model's clean and corrupted runs: what patching normalises by."""
        return float(self.metric(model(self.clean))), float(self.metric(model(self.corrupted)))


def task_inputs(
    clean_or_task: Int[Tensor, "batch pos"] | Task, corrupted: Int[Tensor, "batch pos"] | None, metric: LogitDiff | None
) -> tuple[Tensor, Tensor, LogitDiff]:
    """(clean tokens, corrupted tokens, metric) from a task, or the three as given: the top of every entry point
    that accepts either."""
    if isinstance(clean_or_task, Task):
        if corrupted is not None or metric is not None:
            raise DataError(
                "give a Task or clean tokens, corrupted tokens and a metric, not both (with a Task, pass the other options by keyword)"
            )
        return clean_or_task.clean, clean_or_task.corrupted, clean_or_task.metric
    if corrupted is None or metric is None:
        raise DataError("give a Task, or clean tokens, corrupted tokens and a metric")
    return clean_or_task, corrupted, metric
