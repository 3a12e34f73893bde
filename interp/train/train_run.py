"""Train a run from Python in one call: a preset name (or a RunConfig) plus `section.field` overrides.

`interp.train_run` is this function. It is `interp train` without the command line: the same presets, the same
override syntax, the same run directory; `interp.train.loop.train` is the loop underneath.

>>> import tempfile
>>> tiny = {"data.corpus": "none", "data.repeated_fraction": 1.0, "data.span_min": 2, "data.span_max": 6,
...         "model.n_ctx": 16, "model.d_model": 32, "model.d_head": 8, "train.steps": 4, "train.batch_size": 4,
...         "train.eval_batches": 1, "train.n_checkpoints": 2, "train.threads": 1}
>>> with tempfile.TemporaryDirectory() as tmp:
...     result = train_run("attn-only-1l", Path(tmp) / "run", overrides=tiny, progress=False)
>>> [c.step for c in result.checkpoints]
[0, 4]
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from interp.core.config import apply_overrides
from interp.core.device import DeviceLike
from interp.core.errors import ConfigError
from interp.train.checkpoints import Checkpoint
from interp.train.config import RunConfig
from interp.train.loop import TrainResult, train
from interp.train.presets import run_config


def train_run(
    run: RunConfig | str,
    out: Path | str,
    *,
    overrides: Mapping[str, Any] | None = None,
    device: DeviceLike = "auto",
    resume: bool = False,
    cache_dir: Path | None = None,
    progress: bool = True,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    on_log: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train `run` (a preset name or a RunConfig, with `overrides` such as {"train.steps": 2000}) into run
    directory `out` on `device` ("auto": a CUDA GPU if there is one, else MPS, else the CPU; or "cpu", "cuda",
    "cuda:N", "mps"); with `resume`, continue it from its last checkpoint, on any device. Returns the loop's
    TrainResult."""
    overrides = dict(overrides or {})
    if isinstance(run, str):
        config = run_config(run, overrides=overrides)
    elif isinstance(run, RunConfig):
        config = RunConfig.from_dict(apply_overrides(run.to_dict(), overrides)) if overrides else run
    else:
        raise ConfigError(f"run must be a preset name or a RunConfig, got {type(run).__name__}")
    return train(
        config,
        Path(out),
        device=device,
        resume=resume,
        cache_dir=cache_dir,
        progress=progress,
        on_checkpoint=on_checkpoint,
        on_log=on_log,
    )
