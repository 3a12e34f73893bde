"""Save and load PerceiverAR models: `config.json` + `model.safetensors` (+ `training.json`), never pickle.

The files are those of an interp checkpoint. The weights already have HookedTransformer names and shapes
(`embed.W_E`, `blocks.0.attn.W_Q` [head d_model d_head], `blocks.0.ln1.w`, ...); config.json holds the
HookedTransformerConfig fields plus `original_architecture = "perceiver_ar"` and `n_latents`, which
`load_any_model` uses to pick the right class.

>>> import tempfile, torch
>>> model = PerceiverAR(PerceiverARConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, n_latents=4))
>>> path = save_perceiver(Path(tempfile.mkdtemp()) / "ckpt", model, step=100)
>>> loaded = load_any_model(path)
>>> type(loaded).__name__, torch.equal(loaded(torch.arange(8)[None]), model(torch.arange(8)[None]))
('PerceiverAR', True)
"""

import json
import shutil
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.model.checkpoints import CONFIG_FILE, FORMAT_VERSION, TRAINING_FILE, WEIGHTS_FILE, _atomic_directory, _commit_directory
from interp.core.errors import CheckpointError
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
    tmp = _atomic_directory(path)
    try:
        state = {name: tensor.detach().contiguous().clone() for name, tensor in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        (tmp / CONFIG_FILE).write_text(json.dumps(model.cfg.to_hooked_transformer_dict(), indent=2) + "\n")
        training = {
            "format_version": FORMAT_VERSION,
            "step": step,
            "tokens_seen": tokens_seen,
            "metrics": metrics or {},
            "run": None,
            "tokenizer": tokenizer,
        }
        (tmp / TRAINING_FILE).write_text(json.dumps(training, indent=2) + "\n")
        _commit_directory(tmp, path)
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
        raise CheckpointError(f"{path} does not hold a PerceiverAR model; load it with interp.model.checkpoints.load_model")
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


def load_any_model(path: Path):
    """A standard interp checkpoint (TransformerBridge) or a PerceiverAR one, by what config.json says."""
    if is_perceiver_checkpoint(path):
        return load_perceiver(path)
    from interp.model.checkpoints import load_model

    return load_model(Path(path))


def read_tokenizer(path: Path) -> dict[str, Any] | None:
    """The tokenizer dict stored with a checkpoint (None if it has none)."""
    file = Path(path) / TRAINING_FILE
    return json.loads(file.read_text()).get("tokenizer") if file.exists() else None
