"""Checks on user input that a model would otherwise meet as an IndexError deep inside a forward pass.

The TransformerBridge forward fails on out-of-range token ids with "index out of range in self" and on floats
with a shape error; entry points that take tokens from a user (CLI commands, analysis functions) call
`check_tokens` once, first, and get one line saying what is wrong.

>>> from interp.train.config import ModelConfig
>>> cfg = ModelConfig(n_layers=1, d_model=8, n_ctx=4, d_head=8, n_heads=1, d_vocab=10)
>>> check_tokens(torch.tensor([[1, 2, 3]]), cfg).shape
torch.Size([1, 3])
>>> check_tokens(torch.tensor([[1, 12]]), cfg)
Traceback (most recent call last):
...
interp.core.errors.DataError: token ids must be in [0, 10), got ids from 1 to 12
"""

from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from interp.core.errors import DataError


def check_tokens(tokens: Any, cfg: Any) -> Int[Tensor, "batch pos"]:
    """Raise DataError unless `tokens` is a non-empty 2-D integer tensor of ids in [0, cfg.d_vocab) with at most
    cfg.n_ctx positions; return it unchanged. `cfg` is a ModelConfig or any model's `.cfg`."""
    if not isinstance(tokens, Tensor) or tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise DataError(
            f"tokens must be an integer tensor [batch pos], got {type(tokens).__name__} {getattr(tokens, 'dtype', '')}"
        )
    if tokens.ndim != 2 or tokens.shape[0] == 0 or tokens.shape[1] == 0:
        raise DataError(f"tokens must have shape [batch pos] with batch, pos > 0; got {tuple(tokens.shape)}")
    if tokens.shape[1] > cfg.n_ctx:
        raise DataError(f"sequences of {tokens.shape[1]} tokens are longer than the model's n_ctx={cfg.n_ctx}; cut them to n_ctx")
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or high >= cfg.d_vocab:
        raise DataError(f"token ids must be in [0, {cfg.d_vocab}), got ids from {low} to {high}")
    return tokens
