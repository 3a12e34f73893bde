"""What several `interp` commands share: option choices, default folders, run labels and table rows.

Only the standard library at module level, so `interp --help` stays fast; no command module imports another.

>>> run_label(Path("models/runs/demo"))
'demo'
>>> MethodChoice("mean").value
'mean'
"""

from enum import Enum
from pathlib import Path

CACHE_DIR = Path("models/cache")
DEVICE_HELP = "Where to run: auto (a CUDA GPU if there is one, else Apple MPS, else the CPU), cpu, cuda, cuda:N or mps."  # packed-token caches shared by every command that rebuilds a run's data


class MethodChoice(str, Enum):
    mean = "mean"
    zero = "zero"
    resample = "resample"


def run_label(path: Path) -> str:
    """The run's folder name, also when `path` is one of its checkpoint directories; a checkpoint kept elsewhere
    in a run (e.g. RUN/average-last-20pct) is `RUN-<its name>`."""
    path = Path(path).resolve()
    if (path / "config.json").exists() and path.parent.name == "checkpoints":
        return path.parent.parent.name
    if (path / "config.json").exists() and (path.parent / "checkpoints").is_dir():
        return f"{path.parent.name}-{path.name}"
    return path.name


def head_row_dict(row) -> dict:
    """One head of `classify_heads` as a table row: step, name, its scores to 4 places, its labels."""
    return {
        "step": row.step,
        "head": row.name,
        **{k: round(v, 4) for k, v in row.scores.items()},
        "labels": ", ".join(row.labels),
    }
