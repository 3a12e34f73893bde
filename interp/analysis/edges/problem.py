"""What every edge method starts from: the model's snapshot and graph, the base and the other run, the metric.

Direction, as in activation patching: "noising" runs the clean prompts and takes an edge's value from the
corrupted run (what the behaviour cannot do without); "denoising" runs the corrupted prompts and takes it from
the clean run (what suffices to restore it). Either way an edge's *score* is the share of the clean-corrupted gap
of the metric it carries: (clean - patched) / (clean - corrupted) noising, (patched - corrupted) / (clean -
corrupted) denoising, so important edges score positive in both.

Positions after the last one the metric reads cannot reach it (attention is causal), so they are dropped.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task, task_inputs
from interp.analysis.edges.graph import Graph
from interp.analysis.edges.run_state import RunState, record
from interp.analysis.patching.partial_forward import check_supported
from interp.core.errors import DataError
from interp.model.engine.weights import Weights

DIRECTIONS = ("noising", "denoising")


@dataclass(frozen=True)
class EdgeProblem:
    """A model, a task and a direction, with both runs recorded."""

    w: Weights
    graph: Graph
    base: RunState
    other: RunState
    metric: LogitDiff
    direction: str
    clean_rows: Float[Tensor, " batch"]
    corrupted_rows: Float[Tensor, " batch"]

    @property
    def clean(self) -> float:
        return float(self.clean_rows.mean())

    @property
    def corrupted(self) -> float:
        return float(self.corrupted_rows.mean())

    @property
    def gap(self) -> float:
        return self.clean - self.corrupted

    @property
    def base_rows(self) -> Float[Tensor, " batch"]:
        return self.clean_rows if self.direction == "noising" else self.corrupted_rows

    @property
    def sign(self) -> float:
        """+1 when a larger patched metric means a more important edge (denoising), -1 otherwise."""
        return 1.0 if self.direction == "denoising" else -1.0

    def effect(self, patched_rows: Float[Tensor, "... batch"]) -> Float[Tensor, "... batch"]:
        """Per row, the metric change an intervention caused, signed so that losing the behaviour is positive."""
        return self.sign * (patched_rows - self.base_rows)

    def normalised(self, effect: Tensor) -> Tensor:
        """An effect (mean over rows) as a share of the clean-corrupted gap."""
        return effect / self.gap

    def faithfulness(self, patched_rows: Float[Tensor, "... batch"]) -> Float[Tensor, "..."]:
        """(patched - corrupted) / (clean - corrupted) of the row means: 1 = the clean model, 0 = corrupted."""
        return (patched_rows.mean(dim=-1) - self.corrupted) / self.gap


def checked_task(
    clean_or_task: Int[Tensor, "batch pos"] | Task,
    corrupted: Int[Tensor, "batch pos"] | None,
    metric: LogitDiff | None,
    direction: str,
) -> Task:
    """The task (built from clean tokens, corrupted tokens and a metric if need be, which validates them), after
    checking the direction."""
    if direction not in DIRECTIONS:
        raise DataError(f"unknown direction {direction!r}; choose one of {', '.join(DIRECTIONS)}")
    if isinstance(clean_or_task, Task):
        return clean_or_task
    clean, corrupted, metric = task_inputs(clean_or_task, corrupted, metric)
    return Task(clean=clean, corrupted=corrupted, metric=metric)


def prepare(
    model,
    clean_or_task: Int[Tensor, "batch pos"] | Task,
    corrupted: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
    *,
    direction: str = "noising",
) -> EdgeProblem:
    """Record the clean and corrupted runs of a task (or of clean tokens, corrupted tokens and a metric)."""
    task = checked_task(clean_or_task, corrupted, metric, direction)
    check_supported(model)
    w, graph = Weights.of(model), Graph.of(model)
    last = int(task.metric.positions.max()) + 1
    clean_state, corrupted_state = record(w, graph, task.clean[:, :last]), record(w, graph, task.corrupted[:, :last])
    rows = torch.arange(task.batch)
    clean_rows, corrupted_rows = (
        task.metric.from_final(state.logits[rows, task.metric.positions]) for state in (clean_state, corrupted_state)
    )
    base, other = (clean_state, corrupted_state) if direction == "noising" else (corrupted_state, clean_state)
    return EdgeProblem(w, graph, base, other, task.metric, direction, clean_rows, corrupted_rows)
