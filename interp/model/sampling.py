"""Autoregressive sampling with temperature and top-k.

The prompt is checked here, for `interp generate` and Python alike (`interp.core.validate.check_tokens` on the last
n_ctx tokens, the ones the model reads), so a bad id is one DataError line, not an IndexError inside the forward.

>>> import interp
>>> cfg = interp.ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True)
>>> model = interp.build_model(cfg)
>>> tokens = sample(model, torch.tensor([[1, 2]]), max_new_tokens=10, generator=torch.Generator().manual_seed(0))
>>> tokens.shape, tokens[0, :2].tolist(), bool(((tokens >= 0) & (tokens < 11)).all())   # it reads the last n_ctx = 8
(torch.Size([1, 12]), [1, 2], True)
>>> torch.equal(sample(model, tokens, max_new_tokens=3, temperature=0), sample(model, tokens, max_new_tokens=3, temperature=0))
True
>>> sample(model, torch.tensor([[1, 11]]), max_new_tokens=1)
Traceback (most recent call last):
interp.core.errors.DataError: token ids must be in [0, 11), got ids from 1 to 11
"""

import torch
from jaxtyping import Int
from torch import Tensor

from interp.core.errors import DataError
from interp.core.validate import check_tokens


@torch.no_grad()
def sample(
    model: torch.nn.Module,
    tokens: Int[Tensor, "batch pos"],
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Int[Tensor, "batch new_pos"]:
    """Extend `tokens` by `max_new_tokens`; the context is cropped to the model's n_ctx. temperature 0 = greedy."""
    if not temperature >= 0:  # `not >=` also catches nan
        raise DataError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and not (isinstance(top_k, int) and top_k >= 1):
        raise DataError(f"top_k must be an integer >= 1, got {top_k!r}")
    if not (isinstance(max_new_tokens, int) and max_new_tokens >= 0):
        raise DataError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    n_ctx = model.cfg.n_ctx
    check_tokens(tokens[:, -n_ctx:] if isinstance(tokens, Tensor) and tokens.ndim == 2 else tokens, model.cfg)
    was_training = model.training
    model.eval()
    for _ in range(max_new_tokens):
        logits = model(tokens[:, -n_ctx:])[:, -1, :]
        if temperature == 0:
            next_token = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            next_token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
        tokens = torch.cat([tokens, next_token], dim=1)
    model.train(was_training)
    return tokens
