"""Build a TransformerLens model from a `ModelConfig`.

Every model is a `TransformerBridge` booted natively (transformer-lens 4.x, no hub access), so it has the
HookedTransformer hook names, `run_with_cache`, `run_with_hooks`, `hooks()` and the weight views
`W_Q`, `W_O`, `OV`, `QK`.

>>> import torch
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=1, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=10, attn_only=True))
>>> model(torch.zeros(1, 5, dtype=torch.long)).shape
torch.Size([1, 5, 10])
"""

import torch
from transformer_lens.config import TransformerBridgeConfig
from transformer_lens.model_bridge import TransformerBridge
from transformer_lens.model_bridge.sources import native

from interp.core.device import DeviceLike, resolve_device
from interp.core.errors import ConfigError
from interp.model.config import ModelConfig


def bridge_config(cfg: ModelConfig) -> TransformerBridgeConfig:
    """The TransformerBridgeConfig for `cfg` (d_vocab must be resolved)."""
    if cfg.d_vocab <= 0:
        raise ConfigError("resolve d_vocab (ModelConfig.with_vocab) before building a model")
    return TransformerBridgeConfig(
        n_layers=cfg.n_layers,
        d_model=cfg.d_model,
        n_ctx=cfg.n_ctx,
        d_head=cfg.d_head,
        n_heads=cfg.n_heads,
        d_vocab=cfg.d_vocab,
        d_vocab_out=cfg.d_vocab,
        d_mlp=cfg.d_mlp,
        attn_only=cfg.attn_only,
        act_fn=cfg.act_fn,
        normalization_type=cfg.normalization_type,
        positional_embedding_type=cfg.positional_embedding_type,
        seed=cfg.seed,
        default_prepend_bos=False,
        model_name=cfg.model_name,
    )


def build_model(cfg: ModelConfig, *, device: DeviceLike = "cpu") -> TransformerBridge:
    """A freshly initialised model (seeded by `cfg.seed`, without touching the global RNG), in eval mode, on
    `device` (initialised on the CPU first, so a seed gives the same weights on every device)."""
    model = native.boot(bridge_config(cfg), model_name=cfg.model_name)
    return move_model(model, device).eval()


def move_model(model: torch.nn.Module, device: DeviceLike) -> torch.nn.Module:
    """`model` moved to `device` in place (returned for chaining); a TransformerBridge also records it in its
    cfg.device, quietly (its own `.to` prints a line)."""
    target = resolve_device(device)
    if isinstance(model, TransformerBridge):
        return model.to(target, print_details=False)
    return model.to(target)
