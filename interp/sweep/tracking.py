"""Optional Weights & Biases logging of a trial, always in offline mode (`wandb sync` uploads it later).

wandb is never a dependency of interp: it is imported only when asked for, and its absence is a one-line error.

    tracker = WandbTracker.start(project="interp-sweep-lr", directory=Path("models/runs/sweeps/lr"),
                                 name="lr=0.001", config=run.to_dict())
    train(run, run_dir, on_log=tracker.log); tracker.finish()

What the tracker sends to the wandb run it wraps (here a stand-in that prints):

>>> class PrintingRun:
...     def log(self, data, step): print(step, data)
...     def finish(self, exit_code=0): print("finished, exit code", exit_code)
>>> tracker = WandbTracker(PrintingRun())
>>> tracker.log({"step": 10, "train_loss": 2.5}); tracker.finish(failed=True)
10 {'step': 10, 'train_loss': 2.5}
finished, exit code 1
"""

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.core.errors import ConfigError


def import_wandb() -> Any:
    """The wandb module, or a ConfigError saying how to get it."""
    try:
        return importlib.import_module("wandb")
    except ImportError:
        raise ConfigError(
            "wandb logging was asked for (wandb = true or --wandb) but wandb is not installed: pip install wandb, or drop it"
        ) from None


@dataclass
class WandbTracker:
    """One offline wandb run; `log` is the training loop's `on_log` callback."""

    run: Any

    @classmethod
    def start(cls, *, project: str, directory: Path, name: str, config: dict[str, Any]) -> "WandbTracker":
        wandb = import_wandb()
        Path(directory).mkdir(parents=True, exist_ok=True)
        return cls(wandb.init(mode="offline", dir=str(directory), project=project, name=name, config=config))

    def log(self, record: dict[str, Any]) -> None:
        self.run.log(dict(record), step=record["step"])

    def finish(self, *, failed: bool = False) -> None:
        if failed:
            self.run.finish(exit_code=1)
        else:
            self.run.finish()
