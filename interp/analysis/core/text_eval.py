"""A trained checkpoint on text: its loss over every held-out row, and samples at several temperatures.

>>> from interp.train.checkpoints import resolve_checkpoint
>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> run_dir = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).run_dir   # 10 steps, 1 s
>>> checkpoint = resolve_checkpoint(run_dir)                         # the last one
>>> 0 < corpus_loss(checkpoint, torch.randint(64, (4, 16))) < 10
True
>>> texts = sample_texts(checkpoint, "ROMEO", temperatures=(0.5, 1.0), n_tokens=5)
>>> sorted(texts), len(texts[0.5])
([0.5, 1.0], 10)
"""

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.induction.probes import token_losses
from interp.core.errors import DataError
from interp.model.engine.fast_forward import fast_forward
from interp.model.sampling import sample
from interp.text.tokenizers import tokenizer_from_dict
from interp.train.checkpoints import Checkpoint, load_model


@torch.no_grad()
def corpus_loss(checkpoint: Checkpoint, rows: Int[Tensor, "row pos"], *, batch_size: int = 64) -> float:
    """Mean next-token loss (nats per token) over all predictions in `rows`, hook-free and in mini-batches."""
    if rows.ndim != 2 or rows.shape[1] < 2 or len(rows) == 0:
        raise DataError(f"rows must be a non-empty [row pos] tensor with pos >= 2, got shape {tuple(rows.shape)}")
    forward = fast_forward(load_model(checkpoint).eval(), checkpoint.config)
    total, count = 0.0, 0
    for chunk in rows.split(batch_size):
        losses = token_losses(forward(chunk), chunk)
        total, count = total + float(losses.double().sum()), count + losses.numel()
    return total / count


def sample_texts(
    checkpoint: Checkpoint,
    prompt: str,
    *,
    temperatures: tuple[float, ...],
    n_tokens: int,
    seed: int = 0,
    top_k: int | None = None,
) -> dict[float, str]:
    """Prompt + `n_tokens` sampled tokens, decoded, at each temperature (each from the same seed)."""
    if checkpoint.tokenizer is None:
        raise DataError(f"{checkpoint.path} does not record its tokenizer; retrain it with a current interp")
    tokenizer = tokenizer_from_dict(checkpoint.tokenizer)
    start = tokenizer.encode(prompt) or [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else 0]
    model = load_model(checkpoint)
    out = {}
    for temperature in temperatures:
        ids = sample(
            model,
            torch.tensor([start]),
            max_new_tokens=n_tokens,
            temperature=temperature,
            top_k=top_k,
            generator=torch.Generator().manual_seed(seed),
        )
        out[temperature] = tokenizer.decode(ids[0].tolist())
    return out
