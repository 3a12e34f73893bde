"""A hook-free forward that also returns every layer's attention pattern and z, for scoring many checkpoints.

Hooking the bridge for patterns costs far more than the arithmetic on a small model (its HookPoints and
wrapper modules run on every call). This runs the engine's forward (interp.model.engine.forward) over a live
snapshot of the bridge's Parameters (so loading a checkpoint into the bridge updates it too), recording the two
tensors the induction scores need. tests/unit/analysis/test_series.py checks it against the bridge's hooks.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11, attn_only=True))
>>> logits, patterns, z = pattern_forward(model)(torch.randint(0, 11, (3, 8)))
>>> tuple(logits.shape), tuple(patterns.shape), tuple(z.shape)   # patterns [layer batch head query key]
((3, 8, 11), (2, 3, 4, 8, 8), (2, 3, 8, 4, 4))
"""

from collections.abc import Callable

import torch
from jaxtyping import Int
from torch import Tensor

from interp.model.engine.activations import ACTIVATIONS
from interp.model.engine.forward import Recorder, forward
from interp.model.engine.norms import NORMALIZATIONS
from interp.model.engine.weights import Weights

Forward = Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]


class PatternForward:
    """Callable tokens -> (logits, patterns [layer batch head query key], z [layer batch query head d_head])."""

    def __init__(self, model: torch.nn.Module):
        self.weights = Weights.live(model)  # live Parameters, not copies
        layers = range(self.weights.n_layers)
        self.pattern_names = [f"blocks.{layer}.attn.hook_pattern" for layer in layers]
        self.z_names = [f"blocks.{layer}.attn.hook_z" for layer in layers]

    @torch.no_grad()
    def __call__(self, tokens: Int[Tensor, "batch pos"]) -> tuple[Tensor, Tensor, Tensor]:
        recorder = Recorder(self.pattern_names + self.z_names)
        logits = forward(self.weights, tokens, recorder)
        kept = recorder.kept
        return (
            logits,
            torch.stack([kept[name] for name in self.pattern_names]),
            torch.stack([kept[name] for name in self.z_names]),
        )


def supports(model: torch.nn.Module) -> bool:
    """Learned absolute positions and the normalisations/activations above; anything else uses the bridge's hooks."""
    cfg = model.cfg
    return (
        getattr(cfg, "positional_embedding_type", "standard") == "standard"
        and cfg.normalization_type in NORMALIZATIONS
        and (cfg.attn_only or cfg.act_fn in ACTIVATIONS)
        and getattr(cfg, "use_attn_scale", True)
    )


def pattern_forward(model: torch.nn.Module) -> Forward | None:
    """The hook-free pattern forward for `model`, or None where it is not covered."""
    return PatternForward(model) if supports(model) else None
