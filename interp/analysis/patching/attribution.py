"""Attribution patching: a first-order estimate of every activation-patching cell from one backward pass.

Patching cell a from the clean run into the corrupted run changes the metric by about
(a_clean - a_corrupted) . d metric / d a, the gradient taken on the corrupted run (Nanda, "Attribution
Patching", 2023). One forward of each run and one backward give every kind and every cell at once. The
gradients come from the same weight-snapshot forward batched patching restarts from (`partial_forward.forward_cache`),
which works for attention-only models too (TransformerLens's helper expects MLP hooks).

Results are `PatchingResult`s in the layouts of `interp.analysis.patching.activation` (values = corrupted metric + the
estimated change), so `.normalised` compares directly with exact patching; `spearman` ranks the agreement.
The estimate is exact when the metric is linear in the patched activation (e.g. the last layer's z with no
LayerNorm after it) and degrades where attention patterns or LayerNorm scales respond strongly.

>>> import interp
>>> from interp.analysis.patching.activation import activation_patching
>>> cfg = interp.ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True,
...     normalization_type=None)
>>> model = interp.build_model(cfg)
>>> clean = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> corrupted = clean.clone()
>>> corrupted[:, 2] = (clean[:, 2] + 1) % 11
>>> metric = LogitDiff(correct=clean[:, 3], wrong=corrupted[:, 2], positions=7)
>>> results = attribution_patching(model, clean, corrupted, metric, kinds=["z", "resid_pre"])
>>> sorted(results), results["z"].normalised.shape
(['resid_pre', 'z'], torch.Size([2, 2]))
>>> exact = activation_patching(model, clean, corrupted, metric, kind="z")
>>> torch.allclose(results["z"].values[1], exact.values[1], atol=1e-5)   # last layer, no LayerNorm: linear, so exact
True
"""

import time
from collections.abc import Sequence

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task, task_inputs
from interp.analysis.patching.activation import (
    AXES,
    PatchingError,
    PatchingResult,
    _check_inputs,
    resolve_kind,
)
from interp.analysis.patching.partial_forward import check_supported, forward_cache
from interp.model.engine.attention import attention_scale
from interp.model.engine.weights import Weights

# which cached activation each kind patches, and how its per-cell sum is taken (einops pattern of the product)
_SOURCES = {
    "resid_pre": ("resid_pre", "batch pos d_model -> pos"),
    "attn_out": ("attn_out", "batch pos d_model -> pos"),
    "mlp_out": ("mlp_out", "batch pos d_model -> pos"),
    "z": ("z", "batch pos head d_head -> head"),
    "q": ("q", "batch pos head d_head -> head"),
    "k": ("k", "batch pos head d_head -> head"),
    "v": ("v", "batch pos head d_head -> head"),
    "z_by_pos": ("z", "batch pos head d_head -> pos head"),
    "q_by_pos": ("q", "batch pos head d_head -> pos head"),
    "k_by_pos": ("k", "batch pos head d_head -> pos head"),
    "v_by_pos": ("v", "batch pos head d_head -> pos head"),
    "pattern": ("pattern", "batch head query key -> head"),
    "pattern_by_pos": ("pattern", "batch head query key -> head query"),
}


def attribution_patching(
    model,
    clean_tokens: Int[Tensor, "batch pos"] | Task,
    corrupted_tokens: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
    kinds: Sequence[str] | None = None,
) -> dict[str, PatchingResult]:
    """Estimated patching results for `kinds` (default: every kind the model has), from one backward pass.
    A `Task` may stand for the tokens and the metric: `attribution_patching(model, task, kinds=["z"])`."""
    started = time.perf_counter()
    clean_tokens, corrupted_tokens, metric = task_inputs(clean_tokens, corrupted_tokens, metric)
    check_supported(model)
    wanted = [resolve_kind(k) for k in (kinds or [k for k in AXES if not (k == "mlp_out" and model.cfg.attn_only)])]
    for kind in wanted:
        _check_inputs(model, clean_tokens, corrupted_tokens, metric, kind)
    w, scale = Weights.of(model), attention_scale(model)
    rows, read = torch.arange(len(metric)), metric.positions
    with torch.no_grad():
        clean = forward_cache(w, clean_tokens, scale)
    with torch.enable_grad():
        corrupted = forward_cache(w, corrupted_tokens, scale, track=True)
        value = metric.from_final(corrupted.logits[rows, read]).mean()
        names = sorted({_SOURCES[k][0] for k in wanted})
        tensors = [t for name in names for t in getattr(corrupted, name)]
        grads = torch.autograd.grad(value, tensors, allow_unused=True)
    n_layers = model.cfg.n_layers
    by_name = {name: grads[i * n_layers : (i + 1) * n_layers] for i, name in enumerate(names)}
    clean_value = float(metric.from_final(clean.logits[rows, read]).mean())
    corrupted_value = float(value.detach())
    seconds = time.perf_counter() - started
    out = {}
    for kind in wanted:
        name, reduction = _SOURCES[kind]
        per_layer = []
        for layer in range(n_layers):
            grad = by_name[name][layer]
            change = getattr(clean, name)[layer] - getattr(corrupted, name)[layer].detach()
            estimate = torch.zeros(()) if grad is None else einops.reduce(change * grad, reduction, "sum")
            per_layer.append(estimate if grad is not None else torch.zeros(_cell_shape(model, kind, clean_tokens.shape[1])))
        values = corrupted_value + torch.stack(per_layer)
        if kind == "pattern_by_pos":  # [layer head pos] already: head query
            pass
        out[kind] = PatchingResult(kind, AXES[kind], values.detach(), clean_value, corrupted_value, seconds)
    return out


def _cell_shape(model, kind: str, pos: int) -> tuple[int, ...]:
    sizes = {"head": model.cfg.n_heads, "pos": pos}
    return tuple(sizes[a] for a in AXES[kind][1:])


def rank(values: Tensor) -> Float[Tensor, " n"]:
    """Ranks 1..n of a flat tensor, ties sharing their average rank."""
    flat = values.flatten().double()
    order = flat.argsort()
    ranks = torch.empty_like(flat)
    ranks[order] = torch.arange(1, len(flat) + 1, dtype=torch.float64)
    for value in flat.unique():
        tied = flat == value
        if int(tied.sum()) > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: Tensor, y: Tensor) -> float:
    """Spearman rank correlation of two tensors of equal size (Pearson correlation of their ranks)."""
    if x.numel() != y.numel() or x.numel() < 2:
        raise PatchingError(f"spearman needs two tensors of one size >= 2, got {x.numel()} and {y.numel()}")
    rx, ry = rank(x), rank(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = (rx.pow(2).sum() * ry.pow(2).sum()).sqrt()
    return float((rx * ry).sum() / denominator) if denominator > 0 else 0.0
