"""Token rows to evaluate a checkpoint on: a tokens file, the run's validation data, or synthetic repeats.

In that order of preference: an explicit file (.npy or .safetensors, never unpickled); else the validation
batches of the run that produced the checkpoint (`TrainingData.prepare(ckpt.run).val_batches()`); else, when
the checkpoint records no run or its data cannot be prepared here, random sequences repeated once
(first half = second half), which every language model of the vocabulary can be scored on.

>>> import tempfile
>>> from pathlib import Path
>>> from interp.train.checkpoints import resolve_checkpoint
>>> import interp
>>> run_dir = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).run_dir   # 10 steps, 1 s
>>> tokens, source = evaluation_tokens(resolve_checkpoint(run_dir), n_rows=8)
>>> tokens.shape, source
(torch.Size([8, 16]), 'validation data of the run (val_repeated)')
"""

from pathlib import Path

import torch
from jaxtyping import Int
from torch import Tensor

from interp.core.errors import DataError, InterpError
from interp.train.checkpoints import Checkpoint

CACHE_DIR = Path("models/cache")


def load_tokens_file(path: Path) -> Int[Tensor, "batch pos"]:
    """Token rows from a .npy file or a .safetensors file (key "tokens", or its only tensor)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"tokens file {path} does not exist")
    if path.suffix == ".npy":
        import numpy as np

        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as error:  # EOFError: an empty file (click would print "Aborted.")
            raise DataError(
                f"{path} is not a plain .npy array ({error or type(error).__name__}); the file is truncated or not a tokens file"
            ) from None
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biufc":  # strings, dates, an .npz archive
            raise DataError(
                f"{path} must hold integer token ids of shape [rows pos], got {getattr(array, 'dtype', type(array).__name__)}"
            )
        tokens = torch.from_numpy(array)
    elif path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise DataError(
                f"{path} cannot be read as safetensors ({error}); the file is truncated or not a tokens file"
            ) from None
        if "tokens" not in tensors and len(tensors) != 1:
            raise DataError(f"{path} holds {sorted(tensors)}; name the token rows 'tokens'")
        tokens = tensors.get("tokens", next(iter(tensors.values())))
    else:
        raise DataError(f"tokens file {path} must be .npy or .safetensors (token ids, shape [rows pos])")
    integer = not (tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool)
    if not integer or tokens.ndim != 2 or 0 in tokens.shape:
        raise DataError(
            f"{path} must hold integer token ids of shape [rows pos], both > 0; got {tokens.dtype} {tuple(tokens.shape)}"
        )
    return tokens.long()


def synthetic_repeats(d_vocab: int, n_ctx: int, n_rows: int, seed: int = 0) -> Int[Tensor, "batch pos"]:
    """Random token rows whose second half repeats the first: a task every vocabulary supports."""
    half = n_ctx // 2
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(d_vocab, (n_rows, half), generator=generator)
    return torch.cat([first, first], dim=1)


def validation_tokens(ckpt: Checkpoint, *, split: str = "all", cache_dir: Path = CACHE_DIR) -> tuple[Tensor, list[str]]:
    """The run's fixed validation rows (names of the sets used); raises InterpError if they cannot be made."""
    from interp.text.tokenizers import tokenizer_from_dict
    from interp.train.data import TrainingData

    if ckpt.run is None:
        raise DataError(f"{ckpt.path} does not record the run that made it")
    tokenizer = tokenizer_from_dict(ckpt.tokenizer) if ckpt.tokenizer else None
    sets = TrainingData.prepare(ckpt.run, cache_dir=cache_dir, tokenizer=tokenizer).val_batches()
    if split != "all":
        if split not in sets:
            raise DataError(f"the run has no validation set {split!r}; it has {', '.join(sets)} (or use 'all')")
        sets = {split: sets[split]}
    return _interleave([torch.cat(batches) for batches in sets.values()]), list(sets)


def _interleave(parts: list[Tensor]) -> Tensor:
    """Rows alternating between the sets, so the first n rows sample every set."""
    length = max(len(p) for p in parts)
    rows = [p[i] for i in range(length) for p in parts if i < len(p)]
    return torch.stack(rows)


def evaluation_tokens(
    ckpt: Checkpoint,
    *,
    n_rows: int = 64,
    tokens_file: Path | None = None,
    split: str = "all",
    seed: int = 0,
    cache_dir: Path = CACHE_DIR,
) -> tuple[Int[Tensor, "batch pos"], str]:
    """At most `n_rows` token rows for `ckpt`, and a sentence saying where they came from."""
    if n_rows <= 0:
        raise DataError(f"the number of rows must be positive, got {n_rows}")
    cfg = ckpt.config
    if tokens_file is not None:
        tokens, source = load_tokens_file(tokens_file), f"tokens file {tokens_file}"
    else:
        try:
            tokens, names = validation_tokens(ckpt, split=split, cache_dir=cache_dir)
            source = f"validation data of the run ({', '.join(names)})"
        except (InterpError, ImportError, OSError) as error:
            if split != "all":  # a named set was asked for: falling back would answer another question
                raise
            tokens = synthetic_repeats(cfg.d_vocab, cfg.n_ctx, n_rows, seed)
            source = f"synthetic repeated random sequences (no validation data: {error})"
    tokens = tokens[:n_rows, : cfg.n_ctx]
    if int(tokens.max()) >= cfg.d_vocab or int(tokens.min()) < 0:
        raise DataError(f"token ids {int(tokens.min())}..{int(tokens.max())} do not fit the model's vocabulary of {cfg.d_vocab}")
    return tokens, source
