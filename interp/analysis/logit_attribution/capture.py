"""One forward of a model through its own hooks, keeping the activations at a few hook names: the cached run
that direct logit attribution and the lenses read.

The model's own hooks (not a hook-free engine forward) so that the numbers decompose exactly what `model(tokens)`
computes, on any native bridge (rotary embeddings, any activation).

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=1, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> logits, kept = run_keeping(model.eval(), torch.zeros(2, 8, dtype=torch.long), ["blocks.0.attn.hook_z"])
>>> logits.shape, kept["blocks.0.attn.hook_z"].shape
(torch.Size([2, 8, 11]), torch.Size([2, 8, 2, 8]))
"""

from collections.abc import Iterable

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.cache import capture_into
from interp.model.sites import SiteError


@torch.no_grad()
def run_keeping(
    model, tokens: Int[Tensor, "batch pos"], names: Iterable[str]
) -> tuple[Float[Tensor, "batch pos vocab"], dict[str, Tensor]]:
    """The model's logits on `tokens` and the (detached) activations at hook `names`, from one forward."""
    names = list(dict.fromkeys(names))
    store: dict[str, Tensor] = {}
    logits = model.run_with_hooks(tokens, fwd_hooks=[(name, capture_into(store, name)) for name in names])
    silent = [name for name in names if name not in store]
    if silent:
        raise SiteError(f"hook(s) {silent} never fired on this model; it is not a native TransformerBridge of interp")
    return logits, store
