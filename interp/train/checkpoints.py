"""Checkpoints: `config.json` + `model.safetensors` in the HookedTransformer layout, written atomically.

A checkpoint is a directory:

    config.json          HookedTransformerConfig fields (loads as `HookedTransformerConfig(**json)` in 3.x)
    model.safetensors    HookedTransformer parameter names and shapes (`embed.W_E`, `blocks.0.attn.W_Q` ...)
    training.json        step, tokens seen, the run config, the tokenizer, metrics at that step (and, for an fp16
                         run, its loss scaler's state: "grad_scaler")
    optimizer.safetensors, rng.safetensors   (optional) what `--resume` needs to continue exactly

Every tensor is written from the CPU (weights, optimizer state, the CPU generator's state), in the model's
float32 whatever the device and precision it trained in, so any checkpoint loads on any device.

Loading converts the HookedTransformer layout with TransformerLens's own `convert_tl_checkpoint`. Nothing
is ever unpickled: a `.pt`/`.pth` file a user points at goes through `torch.load(weights_only=True)` only
(`interp.model.layout.load_state_dict_file`), which refuses anything but tensors and plain containers.

>>> import tempfile
>>> from interp.model.build import build_model
>>> cfg = ModelConfig(n_layers=1, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True)
>>> model, tmp = build_model(cfg), Path(tempfile.mkdtemp())
>>> ckpt = save_checkpoint(tmp / "step_000010", model, cfg, step=10, tokens_seen=640)
>>> sorted(path.name for path in ckpt.path.iterdir())
['config.json', 'model.safetensors', 'training.json']
>>> tokens = torch.arange(8)[None]
>>> torch.equal(load_model(ckpt.path)(tokens), model(tokens))
True
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from interp.core.device import DeviceLike, resolve_device
from interp.core.errors import CheckpointError
from interp.core.io import atomic_directory, commit_directory, read_json_object, write_json
from interp.model.config import ModelConfig
from interp.model.layout import from_hooked_state_dict, to_hooked_state_dict
from interp.train.config import RunConfig

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TRAINING_FILE = "training.json"
OPTIMIZER_FILE = "optimizer.safetensors"
RNG_FILE = "rng.safetensors"
CHECKPOINTS_DIR = "checkpoints"


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint directory says about itself (read from its JSON files only; no weights loaded)."""

    path: Path
    step: int
    tokens_seen: int
    config: ModelConfig
    run: RunConfig | None
    tokenizer: dict[str, Any] | None
    metrics: dict[str, float]

    @property
    def has_optimizer_state(self) -> bool:
        return (self.path / OPTIMIZER_FILE).exists()


# ---- writing ----------------------------------------------------------------------------------------------


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Flatten an optimizer's state into named tensors plus JSON metadata (no pickling)."""
    state = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"{index}.{name}"] = value.detach().to("cpu", copy=True).contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, _, name = key.partition(".")
        state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, _, name = key.partition(".")
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    cfg: ModelConfig,
    *,
    step: int,
    tokens_seen: int,
    run: RunConfig | None = None,
    tokenizer: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    grad_scaler: dict[str, Any] | None = None,
) -> Checkpoint:
    """Write a checkpoint directory atomically: readers see the old one or the whole new one, never a part.
    `grad_scaler` is an fp16 run's loss-scaler state (interp.train.precision.MixedPrecision.state)."""
    path = Path(path)
    tmp = atomic_directory(path)
    try:
        cpu_state = {name: value.detach().cpu() for name, value in model.state_dict().items()}  # loadable on any device
        save_file(to_hooked_state_dict(cpu_state, cfg), str(tmp / WEIGHTS_FILE))
        write_json(tmp / CONFIG_FILE, cfg.to_hooked_transformer_dict())
        training: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "step": step,
            "tokens_seen": tokens_seen,
            "metrics": metrics or {},
            "run": run.to_dict() if run is not None else None,
            "tokenizer": tokenizer,
        }
        if optimizer is not None:
            tensors, meta = optimizer_tensors(optimizer)
            save_file(tensors, str(tmp / OPTIMIZER_FILE))
            training["optimizer"] = meta
            save_file({"torch": torch.get_rng_state()}, str(tmp / RNG_FILE))
        if grad_scaler is not None:
            training["grad_scaler"] = grad_scaler
        write_json(tmp / TRAINING_FILE, training)
        commit_directory(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return read_checkpoint(path)


# ---- reading ----------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path, error=CheckpointError, what="the checkpoint")


def read_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint's JSON metadata (fast: no tensors are loaded)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint directory at {path}")
    hooked = _read_json(path / CONFIG_FILE)
    training = _read_json(path / TRAINING_FILE) if (path / TRAINING_FILE).exists() else {}
    if not (path / WEIGHTS_FILE).exists():
        raise CheckpointError(f"{path} is not a complete checkpoint: {WEIGHTS_FILE} is missing")
    try:
        config = ModelConfig.from_hooked_transformer_dict(hooked)
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{path / CONFIG_FILE} does not describe a model interp can build: {error}") from None
    try:
        run = RunConfig.from_dict(training["run"]) if training.get("run") else None
        step, tokens_seen = training.get("step", 0), training.get("tokens_seen", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (step, tokens_seen)):
            raise ValueError(f"step and tokens_seen must be integers >= 0, got {step!r} and {tokens_seen!r}")
    except ValueError as error:  # ConfigError included
        raise CheckpointError(f"{path / TRAINING_FILE} is not a valid training record: {error}") from None
    return Checkpoint(
        path=path,
        step=step,
        tokens_seen=tokens_seen,
        config=config,
        run=run,
        tokenizer=training.get("tokenizer"),
        metrics=training.get("metrics", {}),
    )


def list_checkpoints(run_dir: Path) -> list[Checkpoint]:
    """All complete checkpoints of a run, by step. Half-written temporary directories are ignored."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        raise CheckpointError(f"{run_dir} has no {CHECKPOINTS_DIR}/ folder; is it a run directory made by `interp train`?")
    found = [read_checkpoint(p) for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if not found:
        raise CheckpointError(f"{folder} holds no checkpoints yet")
    return sorted(found, key=lambda c: c.step)


def resolve_checkpoint(path: Path, step: int | None = None) -> Checkpoint:
    """A checkpoint from a checkpoint directory, or from a run directory (the last one, or the given step)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist; pass a run directory or a checkpoint directory")
    if any((path / name).exists() for name in (CONFIG_FILE, WEIGHTS_FILE, TRAINING_FILE)):
        return read_checkpoint(path)  # a checkpoint directory (says which file is missing, if one is)
    checkpoints = list_checkpoints(path)
    if step is None:
        return checkpoints[-1]
    for ckpt in checkpoints:
        if ckpt.step == step:
            return ckpt
    raise CheckpointError(f"{path} has no checkpoint at step {step}; steps: {[c.step for c in checkpoints]}")


def _read_weights(file: Path) -> dict[str, Tensor]:
    try:
        return load_file(str(file))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{file} cannot be read ({error}); the file is truncated or corrupted") from None


def _refuse_variant(path: Path) -> None:
    """A PerceiverAR checkpoint has the same parameter names and shapes as a standard model of its config, so
    it would load into a TransformerBridge without complaint and compute another function: refuse it."""
    architecture = _read_json(Path(path) / CONFIG_FILE).get("original_architecture")
    if architecture == "perceiver_ar":  # interp.variants.perceiver_ar.ARCHITECTURE (a higher layer)
        raise CheckpointError(f"{path} holds a PerceiverAR model, not a TransformerBridge; load it with interp.load")


def load_weights(path: Path, cfg: ModelConfig) -> dict[str, Tensor]:
    """The bridge state dict stored in checkpoint `path`, checked against `cfg`."""
    _refuse_variant(path)
    return from_hooked_state_dict(_read_weights(Path(path) / WEIGHTS_FILE), cfg)


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def load_into(model: torch.nn.Module, path: Path, cfg: ModelConfig) -> None:
    """Load checkpoint `path`'s weights into `model` (built from `cfg`); names and shapes are checked first, in the
    file's own HookedTransformer names, so a checkpoint of another config is one clear CheckpointError."""
    _refuse_variant(path)
    file = Path(path) / WEIGHTS_FILE
    hooked = _read_weights(file)
    expected = {k: tuple(v.shape) for k, v in to_hooked_state_dict(model.state_dict(), cfg).items()}
    missing, extra = sorted(set(expected) - set(hooked)), sorted(set(hooked) - set(expected))
    wrong = [
        f"{k} is {list(hooked[k].shape)}, not {list(shape)}"
        for k, shape in expected.items()
        if k in hooked and tuple(hooked[k].shape) != shape
    ]
    problems = (
        [f"missing {_few(missing)}"] * bool(missing) + [f"unexpected {_few(extra)}"] * bool(extra) + [_few(wrong)] * bool(wrong)
    )
    if problems:
        raise CheckpointError(
            f"{file}: weights do not match config.json ({'; '.join(problems)}); they were written for another model config"
        )
    model.load_state_dict(from_hooked_state_dict(hooked, cfg), strict=True)


def load_model(checkpoint: Checkpoint | Path, step: int | None = None, *, device: DeviceLike = "cpu"):
    """The model stored in a checkpoint (or a run's latest / given step), in eval mode, on `device` (checkpoints
    hold CPU tensors, so any checkpoint loads on any device)."""
    from interp.model.build import build_model, move_model

    target = resolve_device(device)
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else resolve_checkpoint(Path(checkpoint), step)
    model = build_model(ckpt.config)
    load_into(model, ckpt.path, ckpt.config)
    return move_model(model, target).eval()


def load_training_state(ckpt: Checkpoint) -> tuple[dict[str, Tensor], dict[str, Any], Tensor]:
    """Optimizer tensors, optimizer metadata and torch RNG state saved with a checkpoint, for resuming."""
    if not ckpt.has_optimizer_state:
        raise CheckpointError(f"{ckpt.path} has no optimizer state; only checkpoints written by training can be resumed")
    training = _read_json(ckpt.path / TRAINING_FILE)
    try:
        tensors = load_file(str(ckpt.path / OPTIMIZER_FILE))
        rng = load_file(str(ckpt.path / RNG_FILE))["torch"]
        meta = training["optimizer"]
    except (SafetensorError, OSError, KeyError) as error:
        raise CheckpointError(
            f"{ckpt.path}: optimizer or RNG state cannot be read ({error}); resume from another checkpoint"
        ) from None
    return tensors, meta, rng


def load_grad_scaler_state(ckpt: Checkpoint) -> dict[str, Any] | None:
    """The loss-scaler state an fp16 run saved with `ckpt` (None for other runs)."""
    state = _read_json(ckpt.path / TRAINING_FILE).get("grad_scaler")
    if state is not None and not isinstance(state, dict):
        raise CheckpointError(f"{ckpt.path / TRAINING_FILE}: grad_scaler must be a JSON object; resume from another checkpoint")
    return state


def remove_partial_checkpoints(run_dir: Path) -> list[Path]:
    """Delete what a killed `save_checkpoint` leaves in a run's checkpoints/ (`.step_X.tmp-*`, `.step_X.old-*`).

    Only call this when no other process is writing checkpoints to the run. Returns the removed paths.
    """
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    leftovers = [p for p in folder.iterdir() if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name)]
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return leftovers


# ---- weights from elsewhere -------------------------------------------------------------------------------
