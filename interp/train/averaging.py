"""Weight averaging along one run: the mean of the checkpoints near the end of training (Polyak averaging; LAWA,
Kaddour 2022). At a constant learning rate the last checkpoints scatter around a minimum, and scores measured on
any single one of them move by several points between neighbouring checkpoints; their mean sits nearer the
middle. Only floating-point tensors are averaged; everything else (masks, integer buffers) must agree.

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> run_dir = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).run_dir   # 10 steps, 1 s
>>> ckpt = save_average(run_dir, fraction=0.95)          # checkpoints at steps >= 0.05 * 10: steps 1 and 10
>>> ckpt.path.name, ckpt.metrics["averaged_checkpoints"]
('average-last-95pct', 2.0)
"""

from collections.abc import Sequence
from pathlib import Path

import torch

from interp.core.errors import CheckpointError
from interp.train.checkpoints import Checkpoint, list_checkpoints, load_model, load_weights, save_checkpoint


def tail_checkpoints(run_dir: Path, fraction: float) -> list[Checkpoint]:
    """The run's checkpoints in the last `fraction` of its steps (at or after (1 - fraction) * last step)."""
    if not 0 < fraction <= 1:
        raise CheckpointError(f"the fraction of training to average must be in (0, 1], got {fraction}")
    checkpoints = list_checkpoints(run_dir)
    last = checkpoints[-1].step
    return [c for c in checkpoints if c.step >= (1 - fraction) * last]


def average_checkpoints(checkpoints: Sequence[Checkpoint]):
    """A model whose floating-point weights are the mean of the checkpoints' (same model config required)."""
    if not checkpoints:
        raise CheckpointError("no checkpoints to average")
    configs = {c.config for c in checkpoints}
    if len(configs) > 1:
        raise CheckpointError(
            f"checkpoints {[str(c.path) for c in checkpoints]} have different model configs; average checkpoints of one run"
        )
    model = load_model(checkpoints[0])  # checked and built once; the others' weights are read as state dicts
    states = [model.state_dict()] + [load_weights(c.path, c.config) for c in checkpoints[1:]]
    averaged = {}
    for name, first in states[0].items():
        if torch.is_floating_point(first):
            averaged[name] = torch.stack([s[name] for s in states]).mean(dim=0)
        elif all(torch.equal(s[name], first) for s in states[1:]):
            averaged[name] = first
        else:
            raise CheckpointError(f"{name} is not a floating-point tensor and differs between checkpoints; it cannot be averaged")
    model.load_state_dict(averaged)
    return model.eval()


def save_average(run_dir: Path, fraction: float = 0.2, out: Path | None = None) -> Checkpoint:
    """Average the last `fraction` of a run's checkpoints into a checkpoint directory (default
    RUN/average-last-<pct>pct), usable wherever a checkpoint is (`interp patch RUN/average-last-20pct`)."""
    run_dir = Path(run_dir)
    chosen = tail_checkpoints(run_dir, fraction)
    model, last = average_checkpoints(chosen), chosen[-1]
    out = out or run_dir / f"average-last-{round(100 * fraction)}pct"
    metrics = {"averaged_checkpoints": float(len(chosen)), "averaged_from_step": float(chosen[0].step)}
    return save_checkpoint(
        out,
        model,
        last.config,
        step=last.step,
        tokens_seen=last.tokens_seen,
        run=last.run,
        tokenizer=last.tokenizer,
        metrics=metrics,
    )
