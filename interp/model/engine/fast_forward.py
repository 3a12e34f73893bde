"""A hook-free forward pass over a TransformerBridge's own parameters, for training.

The bridge routes every activation through HookPoints and wrapper modules; during training nobody is hooking,
and that machinery made a step about 25% slower than a plain PyTorch model of the same shape
(benchmarks/bench_training.py). This forward reads the very same Parameter objects (so the optimizer, the
checkpoints and every analysis keep using the bridge) and computes the same function with fused PyTorch kernels
(`F.layer_norm`, `F.scaled_dot_product_attention`). tests/unit/model/test_fast_forward.py checks logits and gradients
against the bridge for every supported architecture.

An optional `perturb` (a `Perturbation`, e.g. training noise from interp.train.noise) edits activations at
TransformerLens hook names as the forward passes them: q/k/v/z in the hook's [batch pos head d_head] layout, the
attention scores [batch head query_pos key_pos] before the causal mask (a layer whose scores are perturbed takes
an explicit-attention path instead of the fused kernel). `hook_resid_mid` edits the residual stream between the
attention and the MLP, as HookedTransformer's hook does (the native bridge's hook_resid_mid is ln2's input, where an
edit reaches only the MLP). Without `perturb` the forward is exactly the unperturbed one.

>>> forward = fast_forward(model)          # doctest: +SKIP
>>> logits = forward(tokens)               # same as model(tokens), within float rounding
"""

import math
from collections.abc import Callable
from typing import AbstractSet, Protocol

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.model.config import ModelConfig

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "solu": lambda x: x * F.softmax(x, dim=-1),
}


class Perturbation(Protocol):
    """Edits activations in the training forward: `hooks` names where, `at(hook name, activation)` does it."""

    hooks: AbstractSet[str]

    def at(self, name: str, activation: Tensor) -> Tensor: ...


def _unperturbed(name: str, activation: Tensor) -> Tensor:
    return activation


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

    def _attention(
        self, x: Float[Tensor, "batch pos d_model"], layer: int, perturb: Perturbation | None = None
    ) -> Float[Tensor, "batch pos d_model"]:
        p, cfg, prefix = self.p, self.cfg, f"blocks.{layer}.attn"
        batch, pos, _ = x.shape
        at = _unperturbed if perturb is None else perturb.at

        def heads(kind: str) -> Float[Tensor, "batch head pos d_head"]:
            projected = F.linear(x, p[f"{prefix}.{kind}.weight"], p[f"{prefix}.{kind}.bias"])
            return at(f"{prefix}.hook_{kind}", projected.view(batch, pos, cfg.n_heads, cfg.d_head)).transpose(1, 2)

        q, k, v = heads("q"), heads("k"), heads("v")
        scale = 1 / math.sqrt(cfg.d_head)
        if perturb is not None and f"{prefix}.hook_attn_scores" in perturb.hooks:
            scores = at(f"{prefix}.hook_attn_scores", (q @ k.transpose(-2, -1)) * scale)  # before the mask: it stays causal
            future = torch.ones(pos, pos, dtype=torch.bool, device=x.device).triu(1)
            z = scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v
        else:
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
        z = at(f"{prefix}.hook_z", z.transpose(1, 2)).reshape(batch, pos, cfg.n_heads * cfg.d_head)
        return F.linear(z, p[f"{prefix}.o.weight"], p[f"{prefix}.o.bias"])

    def __call__(
        self, tokens: Int[Tensor, "batch pos"], perturb: Perturbation | None = None
    ) -> Float[Tensor, "batch pos vocab"]:
        p, cfg = self.p, self.cfg
        if tokens.shape[1] > cfg.n_ctx:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens is longer than n_ctx={cfg.n_ctx}")
        at = _unperturbed if perturb is None else perturb.at
        positions = p["pos_embed.weight"][: tokens.shape[1]]
        if perturb is not None:  # the hook's activation has a batch axis: [batch pos d_model]
            positions = perturb.at("hook_pos_embed", positions.expand(tokens.shape[0], -1, -1))
        x = at("hook_embed", F.embedding(tokens, p["embed.weight"])) + positions
        for layer in range(cfg.n_layers):
            block = f"blocks.{layer}"
            x = at(f"{block}.hook_resid_pre", x)
            x = x + at(f"{block}.hook_attn_out", self._attention(self._norm(x, f"{block}.ln1"), layer, perturb))
            if not cfg.attn_only:
                x = at(f"{block}.hook_resid_mid", x)
                prefix = f"{block}.mlp"
                pre = at(f"{prefix}.hook_pre", F.linear(self._norm(x, f"{block}.ln2"), p[f"{prefix}.in.weight"], p[f"{prefix}.in.bias"]))
                hidden = at(f"{prefix}.hook_post", self.act(pre))
                x = x + at(f"{block}.hook_mlp_out", F.linear(hidden, p[f"{prefix}.out.weight"], p[f"{prefix}.out.bias"]))
            x = at(f"{block}.hook_resid_post", x)
        return F.linear(self._norm(x, "ln_final"), p["unembed.weight"], p["unembed.bias"])


def fast_forward(model: torch.nn.Module, cfg: ModelConfig) -> Callable[[Tensor], Tensor]:
    """The fast forward for `model` where its architecture is covered, else the model itself."""
    return FastForward(model, cfg) if supports(cfg) else model
