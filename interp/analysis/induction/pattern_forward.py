"""A hook-free forward that also returns every layer's attention pattern and z, for scoring many checkpoints.

Hooking the bridge for patterns costs far more than the arithmetic on a small model (its HookPoints and
wrapper modules run on every call). This forward reads the bridge's own Parameters (so loading a checkpoint
into the bridge updates it too) and computes the same function as the bridge, keeping the two tensors the
induction scores need. tests/unit/analysis/test_series.py checks it against the bridge's hooks.

>>> forward = pattern_forward(model)                   # doctest: +SKIP
>>> logits, patterns, z = forward(tokens)              # patterns [layer batch head query key]
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.model.engine.fast_forward import ACTIVATIONS

Forward = Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]


class PatternForward:
    """Callable tokens -> (logits, patterns [layer batch head query key], z [layer batch query head d_head])."""

    def __init__(self, model: torch.nn.Module):
        self.cfg = model.cfg
        self.p = model.state_dict(keep_vars=True)  # live Parameters, not copies
        self.act = None if self.cfg.attn_only else ACTIVATIONS[self.cfg.act_fn]

    def _norm(self, x: Tensor, name: str) -> Tensor:
        kind, eps = self.cfg.normalization_type, self.cfg.eps
        if kind is None:
            return x
        if kind in ("LN", "LNPre"):
            x = x - x.mean(-1, keepdim=True)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        if kind == "LN":
            return x * self.p[f"{name}.weight"] + self.p[f"{name}.bias"]
        return x * self.p[f"{name}.weight"] if kind == "RMS" else x

    @torch.no_grad()
    def __call__(self, tokens: Int[Tensor, "batch pos"]) -> tuple[Tensor, Tensor, Tensor]:
        p, cfg = self.p, self.cfg
        batch, n = tokens.shape
        causal = torch.ones(n, n, dtype=torch.bool).tril()
        x = F.embedding(tokens, p["embed.weight"]) + p["pos_embed.weight"][:n]
        patterns, zs = [], []
        for layer in range(cfg.n_layers):
            prefix = f"blocks.{layer}.attn"
            normed = self._norm(x, f"blocks.{layer}.ln1")

            def heads(kind: str) -> Float[Tensor, "batch head pos d_head"]:
                out = F.linear(normed, p[f"{prefix}.{kind}.weight"], p[f"{prefix}.{kind}.bias"])
                return out.view(batch, n, cfg.n_heads, cfg.d_head).transpose(1, 2)

            scores = heads("q") @ heads("k").transpose(-1, -2) / math.sqrt(cfg.d_head)
            pattern = scores.masked_fill(~causal, float("-inf")).softmax(-1)
            z = (pattern @ heads("v")).transpose(1, 2)  # [batch pos head d_head], like hook_z
            x = x + F.linear(z.reshape(batch, n, -1), p[f"{prefix}.o.weight"], p[f"{prefix}.o.bias"])
            if self.act is not None:
                mlp = f"blocks.{layer}.mlp"
                hidden = self.act(F.linear(self._norm(x, f"blocks.{layer}.ln2"), p[f"{mlp}.in.weight"], p[f"{mlp}.in.bias"]))
                x = x + F.linear(hidden, p[f"{mlp}.out.weight"], p[f"{mlp}.out.bias"])
            patterns.append(pattern)
            zs.append(z)
        logits = F.linear(self._norm(x, "ln_final"), p["unembed.weight"], p["unembed.bias"])
        return logits, torch.stack(patterns), torch.stack(zs)


def supports(model: torch.nn.Module) -> bool:
    """Learned absolute positions and the normalisations/activations above; anything else uses the bridge's hooks."""
    cfg = model.cfg
    return (
        getattr(cfg, "positional_embedding_type", "standard") == "standard"
        and cfg.normalization_type in ("LN", "LNPre", "RMS", "RMSPre", None)
        and (cfg.attn_only or cfg.act_fn in ACTIVATIONS)
        and getattr(cfg, "use_attn_scale", True)
    )


def pattern_forward(model: torch.nn.Module) -> Forward | None:
    """The hook-free pattern forward for `model`, or None where it is not covered."""
    return PatternForward(model) if supports(model) else None
