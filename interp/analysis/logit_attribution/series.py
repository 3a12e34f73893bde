"""Direct logit attribution at every chosen checkpoint of a run: each head's and component's mean share of the
logit direction with its standard error over the task's rows, the model built once.

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> from interp.tasks import induction_task
>>> checkpoints = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).checkpoints   # 1 s
>>> series = attribution_series(checkpoints, induction_task(16, n=8, half=4))
>>> series.steps, series.heads.shape, bool(series.max_error.max() < 1e-4)      # [checkpoint layer head]
((0, 1, 10), torch.Size([3, 2, 2]), True)
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.core.task import Task
from interp.analysis.logit_attribution.decompose import direct_logit_attribution
from interp.analysis.logit_attribution.directions import LogitDirection, task_direction
from interp.analysis.logit_attribution.result import LogitAttribution
from interp.core.device import DeviceLike, resolve_device
from interp.core.errors import CheckpointError
from interp.train.checkpoints import Checkpoint, load_into
from interp.variants.perceiver_ar_io import is_perceiver_checkpoint

SERIES_TENSORS = ("heads", "heads_sem", "components", "components_sem", "biases", "logit_value", "logit_value_sem", "max_error")


@dataclass(frozen=True, eq=False)
class AttributionSeries:
    """Means over rows (and standard errors) of an attribution at each checkpoint; leading axis: checkpoint."""

    steps: tuple[int, ...]
    tokens_seen: tuple[int, ...]
    direction: str
    component_labels: tuple[str, ...]
    bias_labels: tuple[str, ...]
    heads: Float[Tensor, "checkpoint layer head"]
    heads_sem: Float[Tensor, "checkpoint layer head"]
    components: Float[Tensor, "checkpoint component"]
    components_sem: Float[Tensor, "checkpoint component"]
    biases: Float[Tensor, "checkpoint bias"]
    logit_value: Float[Tensor, " checkpoint"]
    logit_value_sem: Float[Tensor, " checkpoint"]
    max_error: Float[Tensor, " checkpoint"]  # largest |components + biases - logit value| over rows

    @classmethod
    def stack(cls, checkpoints: Sequence[Checkpoint], results: Sequence[LogitAttribution]) -> "AttributionSeries":
        first = results[0]
        summaries = {name: [r.mean_sem(name) for r in results] for name in ("heads", "components", "biases", "logit_value")}
        return cls(
            steps=tuple(c.step for c in checkpoints),
            tokens_seen=tuple(c.tokens_seen for c in checkpoints),
            direction=first.direction,
            component_labels=first.component_labels,
            bias_labels=first.bias_labels,
            heads=torch.stack([m for m, _ in summaries["heads"]]),
            heads_sem=torch.stack([s for _, s in summaries["heads"]]),
            components=torch.stack([m for m, _ in summaries["components"]]),
            components_sem=torch.stack([s for _, s in summaries["components"]]),
            biases=torch.stack([m for m, _ in summaries["biases"]]),
            logit_value=torch.stack([m for m, _ in summaries["logit_value"]]),
            logit_value_sem=torch.stack([s for _, s in summaries["logit_value"]]),
            max_error=torch.tensor([r.error for r in results], dtype=torch.float64),
        )

    def tensors(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) for name in SERIES_TENSORS}


def series_model(checkpoints: Sequence[Checkpoint], device: DeviceLike = "cpu"):
    """One model of the checkpoints' (single) architecture on `device`, to load each checkpoint into."""
    from interp.model.build import build_model

    if not checkpoints:
        raise CheckpointError("no checkpoints to analyse; train a run first (interp train)")
    if is_perceiver_checkpoint(checkpoints[0].path):
        raise CheckpointError(f"{checkpoints[0].path} holds a PerceiverAR; logit attribution and lenses read native bridges only")
    config = checkpoints[0].config
    for ckpt in checkpoints:
        if ckpt.config != config:
            raise CheckpointError(
                f"{ckpt.path} has a different architecture from {checkpoints[0].path}; analyse one run at a time"
            )
    return build_model(config, device=resolve_device(device)).eval()


def attribution_series(
    checkpoints: Sequence[Checkpoint],
    task: Task,
    *,
    direction: LogitDirection | str = "answer-distractor",
    device: DeviceLike = "cpu",
    batch_size: int | None = None,
    progress: Callable[[Checkpoint], None] | None = None,
) -> AttributionSeries:
    """The attribution of `direction` (a LogitDirection, or "answer-distractor" / "answer" of the task) on the
    task's clean rows at every checkpoint (all of one architecture), on `device`."""
    chosen = direction if isinstance(direction, LogitDirection) else task_direction(task, direction)
    model = series_model(checkpoints, device)
    results = []
    for ckpt in checkpoints:
        if progress is not None:
            progress(ckpt)
        load_into(model, ckpt.path, ckpt.config)
        results.append(direct_logit_attribution(model.eval(), task.clean, chosen, batch_size=batch_size))
    return AttributionSeries.stack(checkpoints, results)
