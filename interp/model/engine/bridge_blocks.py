"""Finish a forward pass through the bridge's own modules, from the residual stream entering some block.

TransformerLens's `start_at_layer` still runs, and discards, the blocks before it on a TransformerBridge, so the
blocks are called here one by one, then `ln_final` and `unembed`, exactly as `TransformerBridge.forward` does,
with every hook firing (hooks given here are attached for the call and always removed). This is the reference
the engine's partial forwards are tested against, and the restart ablations use (interp.analysis.ablation).
Only natively booted bridges have blocks that can be called this way.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11))
>>> tokens = torch.randint(0, 11, (2, 8))
>>> logits, cache = model.run_with_cache(tokens)
>>> torch.allclose(run_blocks_from(model, cache["blocks.1.hook_resid_pre"], start=1), logits, atol=1e-5)
True
"""

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor


def run_blocks_from(
    model, resid: Float[Tensor, "batch pos d_model"], start: int, hooks: Sequence = ()
) -> Float[Tensor, "batch pos vocab"]:
    """Logits from the residual stream entering block `start` (n_layers: after the last block), through the
    bridge's block modules start.., ln_final and unembed, with `hooks` ([(hook name, function)]) attached."""
    if hooks:
        with model.hooks(fwd_hooks=list(hooks)):
            return run_blocks_from(model, resid, start)
    batch, pos = resid.shape[:2]
    positions = torch.arange(pos, device=resid.device).expand(batch, -1)  # rotary attention reads them
    for block in model.blocks[start:]:
        out = block(resid, position_ids=positions)
        resid = out[0] if isinstance(out, tuple) else out
    return model.unembed(model.ln_final(resid))
