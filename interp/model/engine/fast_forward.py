"""The hook-free training forward over a TransformerBridge's own parameters.

The bridge routes every activation through HookPoints and wrapper modules; during training nobody is hooking,
and that machinery made a step about 25% slower than a plain PyTorch model of the same shape
(benchmarks/bench_training.py). `FastForward` runs interp.model.engine.forward over a live snapshot of the very
same Parameter objects (so the optimizer, the checkpoints and every analysis keep using the bridge), with fused
PyTorch kernels (`F.layer_norm`, `F.scaled_dot_product_attention`). tests/unit/model/test_fast_forward.py checks
logits and gradients against the bridge for every supported architecture.

An optional `perturb` (a `Perturbation`, e.g. training noise from interp.train.noise) edits activations at
TransformerLens hook names as the forward passes them (see interp.model.engine.forward). Without `perturb` the
forward is exactly the unperturbed one.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> cfg = ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11)
>>> model = build_model(cfg)
>>> tokens = torch.randint(0, 11, (2, 8))
>>> torch.allclose(fast_forward(model, cfg)(tokens), model(tokens), atol=1e-5)
True
"""

from collections.abc import Callable

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.model.config import ModelConfig
from interp.model.engine.activations import ACTIVATIONS
from interp.model.engine.forward import Perturbation, forward
from interp.model.engine.weights import Weights

__all__ = ["FastForward", "Perturbation", "fast_forward", "supports"]


def supports(cfg: ModelConfig) -> bool:
    """Rotary embeddings are left to the bridge; everything else ModelConfig allows is covered."""
    return cfg.positional_embedding_type == "standard" and cfg.act_fn in ACTIVATIONS


class FastForward:
    """Callable `tokens -> logits` over `model`'s parameters; holds references, not copies."""

    def __init__(self, model: torch.nn.Module, cfg: ModelConfig):
        if not supports(cfg):
            raise ValueError(f"the fast forward does not cover {cfg.positional_embedding_type} positions / {cfg.act_fn}")
        self.cfg = cfg
        self.weights = Weights.live(model)

    def __call__(self, tokens: Int[Tensor, "batch pos"], perturb: Perturbation | None = None) -> Float[Tensor, "batch pos vocab"]:
        if tokens.shape[1] > self.cfg.n_ctx:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens is longer than n_ctx={self.cfg.n_ctx}")
        return forward(self.weights, tokens, perturb)


def fast_forward(model: torch.nn.Module, cfg: ModelConfig) -> Callable[[Tensor], Tensor]:
    """The fast forward for `model` where its architecture is covered, else the model itself."""
    return FastForward(model, cfg) if supports(cfg) else model
