"""Autoregressive sampling with temperature and top-k.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> tokens = sample(model, torch.tensor([[1, 2]]), max_new_tokens=5, generator=torch.Generator().manual_seed(0))
>>> tokens.shape, tokens[0, :2].tolist()          # the prompt, then 5 new tokens
(torch.Size([1, 7]), [1, 2])
>>> greedy = sample(model, torch.tensor([[1, 2]]), max_new_tokens=5, temperature=0)
>>> torch.equal(greedy, sample(model, torch.tensor([[1, 2]]), max_new_tokens=5, temperature=0))
True
"""

import torch
from jaxtyping import Int
from torch import Tensor


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
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    n_ctx = model.cfg.n_ctx
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
