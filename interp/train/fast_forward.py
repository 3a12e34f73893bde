"""A hook-free forward pass over a TransformerBridge's own parameters, for training.

The bridge routes every activation through HookPoints and wrapper modules; during training nobody is hooking,
and that machinery made a step about 25% slower than a plain PyTorch model of the same shape
(benchmarks/bench_training.py). This forward reads the very same Parameter objects (so the optimizer, the
checkpoints and every analysis keep using the bridge) and computes the same function with fused PyTorch kernels
(`F.layer_norm`, `F.scaled_dot_product_attention`). tests/test_fast_forward.py checks logits and gradients
against the bridge for every supported architecture.

>>> forward = fast_forward(model)          # doctest: +SKIP
>>> logits = forward(tokens)               # same as model(tokens), within float rounding
"""

import math
from typing import Callable

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.config import ModelConfig

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "solu": lambda x: x * F.softmax(x, dim=-1),
}


def supports(cfg: ModelConfig) -> bool:
    """Rotary embeddings are left to the bridge; everything else ModelConfig allows is covered."""
    return cfg.positional_embedding_type == "standard" and cfg.act_fn in ACTIVATIONS


class FastForward:
    """Callable `tokens -> logits` over `model`'s parameters; holds references, not copies."""

    def __init__(self, model: torch.nn.Module, cfg: ModelConfig):
        if not supports(cfg):
            raise ValueError(f"the fast forward does not cover {cfg.positional_embedding_type} positions / {cfg.act_fn}")
        self.cfg = cfg
        self.p = model.state_dict(keep_vars=True)  # bridge names -> the live Parameters
        self.eps = model.cfg.eps
        self.act = ACTIVATIONS[cfg.act_fn]

    def _norm(self, x: Tensor, name: str) -> Tensor:
        kind = self.cfg.normalization_type
        if kind is None:
            return x
        d = (self.cfg.d_model,)
        if kind == "LN":
            return F.layer_norm(x, d, self.p[f"{name}.weight"], self.p[f"{name}.bias"], self.eps)
        if kind == "LNPre":
            return F.layer_norm(x, d, None, None, self.eps)
        scaled = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return scaled * self.p[f"{name}.weight"] if kind == "RMS" else scaled

    def _attention(self, x: Float[Tensor, "batch pos d_model"], layer: int) -> Float[Tensor, "batch pos d_model"]:
        p, cfg, prefix = self.p, self.cfg, f"blocks.{layer}.attn"
        batch, pos, _ = x.shape

        def heads(kind: str) -> Float[Tensor, "batch head pos d_head"]:
            projected = F.linear(x, p[f"{prefix}.{kind}.weight"], p[f"{prefix}.{kind}.bias"])
            return projected.view(batch, pos, cfg.n_heads, cfg.d_head).transpose(1, 2)

        z = F.scaled_dot_product_attention(heads("q"), heads("k"), heads("v"), is_causal=True, scale=1 / math.sqrt(cfg.d_head))
        z = z.transpose(1, 2).reshape(batch, pos, cfg.n_heads * cfg.d_head)
        return F.linear(z, p[f"{prefix}.o.weight"], p[f"{prefix}.o.bias"])

    def __call__(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos vocab"]:
        p, cfg = self.p, self.cfg
        if tokens.shape[1] > cfg.n_ctx:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens is longer than n_ctx={cfg.n_ctx}")
        x = F.embedding(tokens, p["embed.weight"]) + p["pos_embed.weight"][: tokens.shape[1]]
        for layer in range(cfg.n_layers):
            x = x + self._attention(self._norm(x, f"blocks.{layer}.ln1"), layer)
            if not cfg.attn_only:
                prefix = f"blocks.{layer}.mlp"
                hidden = self.act(F.linear(self._norm(x, f"blocks.{layer}.ln2"), p[f"{prefix}.in.weight"], p[f"{prefix}.in.bias"]))
                x = x + F.linear(hidden, p[f"{prefix}.out.weight"], p[f"{prefix}.out.bias"])
        return F.linear(self._norm(x, "ln_final"), p["unembed.weight"], p["unembed.bias"])


def fast_forward(model: torch.nn.Module, cfg: ModelConfig) -> Callable[[Tensor], Tensor]:
    """The fast forward for `model` where its architecture is covered, else the model itself."""
    return FastForward(model, cfg) if supports(cfg) else model
