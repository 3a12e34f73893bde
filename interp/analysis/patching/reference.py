"""The reference for batched patching: TransformerLens's own `get_act_patch_*` functions, one forward per cell.

`reference_patching` runs the TransformerLens function for a kind of `interp.analysis.patching.activation` with the same
metric and returns its tensor (same layout). Slow by design; tests and benchmarks compare against it.

>>> import interp
>>> from interp.analysis.patching.activation import activation_patching
>>> cfg = interp.ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True)
>>> model = interp.build_model(cfg)
>>> clean = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> corrupted = clean.clone()
>>> corrupted[:, 2] = (clean[:, 2] + 1) % 11
>>> metric = LogitDiff(correct=clean[:, 3], wrong=corrupted[:, 2], positions=7)
>>> values = reference_patching(model, clean, corrupted, metric, kind="z")   # one forward per (layer, head)
>>> values.shape, torch.allclose(values, activation_patching(model, clean, corrupted, metric, kind="z").values, atol=1e-5)
(torch.Size([2, 2]), True)
"""

import contextlib
import io

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.patching.activation import resolve_kind

TL_FUNCTIONS = {
    "resid_pre": "get_act_patch_resid_pre",
    "attn_out": "get_act_patch_attn_out",
    "mlp_out": "get_act_patch_mlp_out",
    "z": "get_act_patch_attn_head_out_all_pos",
    "z_by_pos": "get_act_patch_attn_head_out_by_pos",
    "q": "get_act_patch_attn_head_q_all_pos",
    "k": "get_act_patch_attn_head_k_all_pos",
    "v": "get_act_patch_attn_head_v_all_pos",
    "q_by_pos": "get_act_patch_attn_head_q_by_pos",
    "k_by_pos": "get_act_patch_attn_head_k_by_pos",
    "v_by_pos": "get_act_patch_attn_head_v_by_pos",
    "pattern": "get_act_patch_attn_head_pattern_all_pos",
    "pattern_by_pos": "get_act_patch_attn_head_pattern_by_pos",
}


@torch.no_grad()
def reference_patching(
    model, clean_tokens: Int[Tensor, "batch pos"], corrupted_tokens: Int[Tensor, "batch pos"], metric: LogitDiff, kind: str
) -> Tensor:
    """The metric per cell from TransformerLens's per-cell loop (progress bars silenced)."""
    from transformer_lens import patching

    function = getattr(patching, TL_FUNCTIONS[resolve_kind(kind)])
    _, clean_cache = model.run_with_cache(clean_tokens)
    with contextlib.redirect_stderr(io.StringIO()):
        return function(model, corrupted_tokens, clean_cache, metric)
