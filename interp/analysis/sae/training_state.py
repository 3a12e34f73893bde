"""What dictionary training carries from step to step, its checkpoints, and the input-scaling fold.

Training checkpoints live in `OUT/training/step_XXXXXX/` (only the newest is kept; they are removed when the
final dictionary is published in OUT, whose `save_dictionary` replaces the directory whole):

    dictionary.safetensors   the dictionary's parameters (in the scaled units training uses)
    optimizer.safetensors    Adam's moments and step counts
    counters.safetensors     tokens since each feature last fired; batchtopk's running threshold
    state.json               step, SAEConfig, source checkpoint, input/target scales, curve, seconds, optimizer metadata

Input scaling: training reads `input_scale * x` and predicts `target_scale * y`, the scales chosen so the mean
vector norm is sqrt(width). `fold_scaling` turns that dictionary into one on raw activations, keeping decoder
rows as they are (unit norm) and expressing feature activations in raw units: for c = target_scale,
`W_enc * input_scale / c`, `b_enc / c`, `b_dec / c`, `threshold / c`, so that `folded(x) == trained(a x) / c`.

>>> from interp.analysis.sae.dictionary import SparseDictionary
>>> sae = SparseDictionary(d_in=8, n_features=16, kind="jumprelu", threshold=0.1, seed=0)
>>> with torch.no_grad():
...     _ = sae.b_dec.normal_(), sae.b_enc.normal_()
>>> x = torch.randn(5, 8)
>>> folded = fold_scaling(sae, 3.0, 3.0)
>>> torch.allclose(folded(x), sae(3.0 * x) / 3.0, atol=1e-5)
True
"""

import copy
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from interp.analysis.sae.dictionary import THRESHOLD_KINDS, SparseDictionary
from interp.core.errors import CheckpointError
from interp.core.io import atomic_directory, commit_directory, read_json, write_json
from interp.train.checkpoints import load_optimizer_state, optimizer_tensors

TRAINING_DIR = "training"
STATE_FILE = "state.json"


@dataclass
class TrainingState:
    """The mutable part of training besides the weights and the optimizer (all saved in a checkpoint)."""

    n_features: int
    step: int = 0
    input_scale: float = 1.0
    target_scale: float = 1.0
    seconds: float = 0.0
    last_fired: Tensor = field(default=None)  # type: ignore[assignment]  # tokens since each feature last fired
    threshold: Tensor = field(default=None)  # type: ignore[assignment]  # batchtopk: running threshold (-1: unset)
    curve: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.last_fired is None:
            self.last_fired = torch.zeros(self.n_features, dtype=torch.int64)
        if self.threshold is None:
            self.threshold = torch.tensor(-1.0, dtype=torch.float64)


@torch.no_grad()
def fold_scaling(sae: SparseDictionary, input_scale: float, target_scale: float) -> SparseDictionary:
    """A copy of `sae` (trained on input_scale * x, target_scale * y) that works on raw activations."""
    folded = copy.deepcopy(sae)
    folded.W_enc.mul_(input_scale / target_scale)
    folded.b_enc.div_(target_scale)
    folded.b_dec.div_(target_scale)
    if folded.kind in THRESHOLD_KINDS:
        folded.log_threshold.sub_(math.log(target_scale))
    return folded


def unfold_scaling(sae: SparseDictionary, input_scale: float, target_scale: float) -> SparseDictionary:
    """The inverse of `fold_scaling`: a raw-unit dictionary (e.g. a warm start) in training's scaled units."""
    return fold_scaling(sae, 1.0 / input_scale, 1.0 / target_scale)


def training_directory(out: Path) -> Path:
    return Path(out) / TRAINING_DIR


def save_training_checkpoint(
    out: Path,
    sae: SparseDictionary,
    optimizer: torch.optim.Optimizer,
    state: TrainingState,
    *,
    record: dict[str, Any],
) -> Path:
    """Write the step's training checkpoint atomically under OUT/training/, then drop older ones."""
    folder = training_directory(out)
    path = folder / f"step_{state.step:06d}"
    tmp = atomic_directory(path)
    try:
        save_file({k: v.detach().contiguous() for k, v in sae.state_dict().items()}, str(tmp / "dictionary.safetensors"))
        tensors, meta = optimizer_tensors(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        save_file({"last_fired": state.last_fired, "threshold": state.threshold}, str(tmp / "counters.safetensors"))
        values = {
            **record,
            "step": state.step,
            "input_scale": state.input_scale,
            "target_scale": state.target_scale,
            "seconds": state.seconds,
            "curve": state.curve,
            "optimizer": meta,
        }
        write_json(tmp / STATE_FILE, values)
        commit_directory(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in folder.iterdir():
        if old.is_dir() and old.name.startswith("step_") and old != path:
            shutil.rmtree(old, ignore_errors=True)
    return path


def latest_training_checkpoint(out: Path) -> Path | None:
    folder = training_directory(out)
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step_") and (p / STATE_FILE).exists())
    return found[-1] if found else None


def read_training_record(path: Path) -> dict[str, Any]:
    try:
        return read_json(Path(path) / STATE_FILE)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path / STATE_FILE} cannot be read ({error}); delete {path} to restart training") from None


def load_training_checkpoint(
    path: Path, sae: SparseDictionary, optimizer: torch.optim.Optimizer
) -> tuple[TrainingState, dict[str, Any]]:
    """Load a training checkpoint into `sae` and `optimizer`; returns the state and the JSON record."""
    record = read_training_record(path)
    try:
        sae.load_state_dict(load_file(str(path / "dictionary.safetensors")))
        load_optimizer_state(optimizer, load_file(str(path / "optimizer.safetensors")), record["optimizer"])
        counters = load_file(str(path / "counters.safetensors"))
    except (SafetensorError, OSError, KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"{path} cannot be resumed from ({error}); delete it to restart training") from None
    state = TrainingState(
        n_features=sae.n_features,
        step=record["step"],
        input_scale=record["input_scale"],
        target_scale=record["target_scale"],
        seconds=record["seconds"],
        last_fired=counters["last_fired"],
        threshold=counters["threshold"],
        curve=record["curve"],
    )
    return state, record


__all__ = [
    "TRAINING_DIR",
    "TrainingState",
    "fold_scaling",
    "latest_training_checkpoint",
    "load_training_checkpoint",
    "read_training_record",
    "save_training_checkpoint",
    "training_directory",
    "unfold_scaling",
]
