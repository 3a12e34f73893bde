"""Save and load PerceiverAR models: `config.json` + `model.safetensors` (+ `training.json`), never pickle.

The files are those of an interp checkpoint. The weights already have HookedTransformer names and shapes
(`embed.W_E`, `blocks.0.attn.W_Q` [head d_model d_head], `blocks.0.ln1.w`, ...); config.json holds the
HookedTransformerConfig fields plus `original_architecture = "perceiver_ar"` and `n_latents`, which
`load_any_model` uses to pick the right class.

`load_any_model` is `interp.load`: a run directory (its last checkpoint, or `step`) or a checkpoint directory of
either architecture -> the model in eval mode.

>>> import tempfile
>>> import torch
>>> model = PerceiverAR(PerceiverARConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, n_latents=4)).eval()
>>> path = save_perceiver(Path(tempfile.mkdtemp()) / "ckpt", model, step=100, tokenizer={"kind": "byte"})
>>> loaded = load_any_model(path)
>>> tokens = torch.randint(0, 11, (2, 8))
>>> type(loaded).__name__, torch.equal(loaded(tokens), model(tokens)), read_tokenizer(path)
('PerceiverAR', True, {'kind': 'byte'})
"""

import json
import shutil
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.core.device import DeviceLike, resolve_device
from interp.core.errors import CheckpointError
from interp.core.io import atomic_directory, commit_directory, write_json
from interp.train.checkpoints import (
    CONFIG_FILE,
    FORMAT_VERSION,
    TRAINING_FILE,
    WEIGHTS_FILE,
    Checkpoint,
    load_model,
    resolve_checkpoint,
)
from interp.variants.perceiver_ar import ARCHITECTURE, PerceiverAR, PerceiverARConfig


def save_perceiver(
    path: Path,
    model: PerceiverAR,
    *,
    step: int = 0,
    tokens_seen: int = 0,
    tokenizer: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Write the model's checkpoint directory atomically (a reader sees the old one or the whole new one)."""
    path = Path(path)
    tmp = atomic_directory(path)
    try:
        state = {name: tensor.detach().contiguous().clone() for name, tensor in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        write_json(tmp / CONFIG_FILE, model.cfg.to_hooked_transformer_dict())
        training = {
            "format_version": FORMAT_VERSION,
            "step": step,
            "tokens_seen": tokens_seen,
            "metrics": metrics or {},
            "run": None,
            "tokenizer": tokenizer,
        }
        write_json(tmp / TRAINING_FILE, training)
        commit_directory(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _config(path: Path) -> dict[str, Any]:
    file = Path(path) / CONFIG_FILE
    if not file.exists():
        raise CheckpointError(f"no checkpoint at {path}: {CONFIG_FILE} is missing")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{file} is not valid JSON ({error}); the checkpoint is corrupted") from None


def is_perceiver_checkpoint(path: Path) -> bool:
    return _config(path).get("original_architecture") == ARCHITECTURE


def load_perceiver(path: Path) -> PerceiverAR:
    """The PerceiverAR model saved in checkpoint directory `path`, in eval mode."""
    path = Path(path)
    data = _config(path)
    if data.get("original_architecture") != ARCHITECTURE:
        raise CheckpointError(f"{path} does not hold a PerceiverAR model; load it with interp.load")
    try:
        cfg = PerceiverARConfig.from_hooked_transformer_dict(data)
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{path / CONFIG_FILE} does not describe a PerceiverAR model: {error}") from None
    try:
        state = load_file(str(path / WEIGHTS_FILE))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path / WEIGHTS_FILE} cannot be read ({error}); the file is truncated or corrupted") from None
    model = PerceiverAR(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit config.json ({first})") from None
    return model.eval()


def load_any_model(path: Path | str | Checkpoint, step: int | None = None, *, device: DeviceLike = "cpu"):
    """The model of a checkpoint directory, or of a run directory's last checkpoint (or the one at `step`), in
    eval mode on `device` ("auto", "cpu", "cuda", "cuda:N", "mps"): a TransformerBridge, or a PerceiverAR where
    config.json says `original_architecture = "perceiver_ar"`."""
    target = resolve_device(device)
    ckpt = path if isinstance(path, Checkpoint) else resolve_checkpoint(Path(path), step)
    if is_perceiver_checkpoint(ckpt.path):
        return load_perceiver(ckpt.path).to(target)
    return load_model(ckpt, device=target)


def read_tokenizer(path: Path) -> dict[str, Any] | None:
    """The tokenizer dict stored with a checkpoint (None if it has none)."""
    file = Path(path) / TRAINING_FILE
    return json.loads(file.read_text()).get("tokenizer") if file.exists() else None
