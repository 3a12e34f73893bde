"""The machinery behind `ablation_study`: many ablations, few forward passes, the same numbers as a naive loop.

Per mini-batch, one clean forward keeps what later passes restart from. Ablations are grouped by their
earliest ablated layer L and stacked along the batch axis (unit-major: rows [u*B, (u+1)*B) carry unit u),
each stacked copy with its own mask of ablated heads or components, applied by one hook per site.

- General path: restart at block L from the clean residual stream entering it (blocks before L would
  compute the same thing again), with the masks hooked in at L and later (`forward_from`).
- Attention-only shortcut, for head ablations: block L's output is linear in z, so the ablated residual after
  block L is the clean one plus (z_replaced - z) @ W_O summed over the unit's heads at L. The pass restarts
  at block L+1 — or, after the last block, runs only ln_final and the unembedding. On the 2-layer demo model
  the eight single-head ablations then cost one block pass per row, against sixteen for a naive loop.

For mean ablation over the data itself, the clean pass also yields the means (when the kept activations fit in
`CLEAN_BUDGET`), so the data is read twice in all rather than three times.

Stacks hold about `STACK_ROWS` rows (at least one mini-batch) and at most `LOGIT_BUDGET` logit entries: on a CPU
the per-row cost rises once a forward's activations outgrow the caches, so wider stacks measured slower.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> units = [frozenset([Cell("head", 1, 0)]), frozenset([Cell("head", 0, 1), Cell("head", 1, 1)])]
>>> baseline, values = evaluate_units(model, tokens, units, method="zero")    # clean loss, loss per unit ablated
>>> values.shape
torch.Size([2])
"""

import math
from dataclasses import dataclass
from typing import Literal

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.cache import cache_activations, check_tokens
from interp.analysis.core.interventions import resample_rows
from interp.analysis.core.metrics import Metric, resolve_metric
from interp.core.errors import DataError
from interp.model.engine.bridge_blocks import run_blocks_from
from interp.model.sites import Site

Method = Literal["zero", "mean", "resample"]
METHODS = ("zero", "mean", "resample")
LOGIT_BUDGET = 2**22  # logit entries per stacked forward (16 MiB in float32)
CLEAN_BUDGET = 2**28  # bytes of clean activations kept across mini-batches (256 MiB) to save a pass
STACK_ROWS = 64  # rows per stacked forward: measured best on this 2-core CPU for demo-size models


@dataclass(frozen=True)
class Cell:
    """One thing to ablate: a head ("head", layer, head) or a whole component ("attn"/"mlp", layer)."""

    component: str
    layer: int
    head: int | None = None

    @property
    def site(self) -> Site:
        if self.component == "head":
            return Site.z(self.layer)
        return Site.attn_out(self.layer) if self.component == "attn" else Site.mlp_out(self.layer)

    @property
    def name(self) -> str:
        return f"L{self.layer}H{self.head}" if self.component == "head" else f"L{self.layer}.{self.component}"


Unit = frozenset[Cell]  # cells ablated together in one run


class Replacements:
    """What an ablated activation becomes, per site: zeros, a dataset mean, or resampled source rows."""

    def __init__(
        self, model, method: Method, sites: list[Site], tokens: Tensor, reference: Tensor | None, seed: int, batch_size: int
    ):
        self.model, self.method, self.sites = model, method, sites
        source = tokens if reference is None else check_tokens(reference, model)
        if method == "mean":
            pos = tokens.shape[1]
            if source.shape[1] < pos:
                raise DataError(f"the mean reference has {source.shape[1]} positions; the data has {pos}")
            means = cache_activations(model, source, sites, batch_size=batch_size, reduce="mean")
            self.means = {site: means[site][:pos].unsqueeze(0) for site in sites}
        if method == "resample":
            if source.shape[1] != tokens.shape[1]:
                raise DataError(f"resample source rows have {source.shape[1]} positions; the data has {tokens.shape[1]}")
            self.source_tokens = source[resample_rows(len(source), len(tokens), seed)]

    @classmethod
    def from_means(cls, means: dict[Site, Tensor]) -> "Replacements":
        """Mean replacements already computed (with a leading batch axis of 1)."""
        made = cls.__new__(cls)
        made.method, made.sites, made.means = "mean", list(means), means
        return made

    def for_rows(self, rows: Tensor) -> dict[Site, Tensor | None]:
        """Replacement per site for these data rows, batch axis 1 or len(rows); None means zero."""
        if self.method == "zero":
            return {site: None for site in self.sites}
        if self.method == "mean":
            return self.means
        acts = cache_activations(self.model, self.source_tokens[rows], self.sites)
        return {site: acts[site] for site in self.sites}


def _kept_bytes(model, sites: list[Site], n_rows: int, pos: int) -> int:
    itemsize = next(model.parameters()).element_size()
    return sum(math.prod(site.shape(model.cfg, pos)) for site in sites) * itemsize * n_rows


def _masks(units: list[Unit], n_heads: int) -> dict[Site, Tensor]:
    """Per site, which stacked copy ablates what: [unit head] for heads, [unit] for components."""
    masks: dict[Site, Tensor] = {}
    for index, unit in enumerate(units):
        for cell in unit:
            if cell.site not in masks:
                shape = (len(units), n_heads) if cell.component == "head" else (len(units),)
                masks[cell.site] = torch.zeros(shape, dtype=torch.bool)
            masks[cell.site][(index, cell.head) if cell.component == "head" else index] = True
    return masks


def _stack_hook(mask: Tensor, replacement: Tensor | None, n_units: int):
    """Hook editing a batch of n_units stacked copies, each where its row of `mask` says."""

    def hook(activation: Tensor, hook) -> Tensor:
        stacked = activation.view(n_units, -1, *activation.shape[1:])  # unit batch pos ...
        shape = [n_units] + [1] * (stacked.ndim - 1)
        if mask.ndim == 2:  # per head: the head axis of [unit batch pos head d_head]
            shape[3] = mask.shape[1]
        value = torch.zeros((), dtype=activation.dtype) if replacement is None else replacement.unsqueeze(0)
        return torch.where(mask.view(shape), value, stacked).view(activation.shape)

    return hook


def _clean_run(model, tokens: Tensor, sites: list[Site]) -> tuple[dict[Site, Tensor], Tensor]:
    """Clean logits and the activations at `sites`, from one forward."""
    kept: dict[Site, Tensor] = {}

    def keep(site: Site):
        def hook(activation: Tensor, hook) -> None:
            kept[site] = activation.detach()

        return hook

    logits = model.run_with_hooks(tokens, fwd_hooks=[(site.hook_name, keep(site)) for site in sites])
    return kept, logits


def _runs_blocks_directly(model) -> bool:
    """True for natively booted bridges, whose blocks are plain pre-norm residual blocks that can be called one
    by one (checked against full forwards in the tests); any other model takes the general path."""
    from transformer_lens.model_bridge.sources.native.model import NativeModel

    cap = getattr(model.cfg, "output_logits_soft_cap", -1.0) or -1.0
    return isinstance(getattr(model, "original_model", None), NativeModel) and cap <= 0


def forward_from(model, resid: Float[Tensor, "batch pos d_model"], start: int, hooks: list) -> Float[Tensor, "batch pos vocab"]:
    """Logits from the residual stream entering block `start` (n_layers: after the last block), running only
    blocks start.. with `hooks` (interp.model.engine.bridge_blocks); models whose blocks cannot be called one by
    one take TransformerLens's slower start_at_layer, which runs and discards the blocks before `start`."""
    if _runs_blocks_directly(model):
        return run_blocks_from(model, resid, start, hooks)
    if start >= model.cfg.n_layers:
        raise DataError("this model cannot be run from after its last block; use a native TransformerLens model")
    return model.run_with_hooks(resid, fwd_hooks=hooks, start_at_layer=start)


def _after_attention(model, layer: int) -> Site:
    """Where block `layer`'s residual stream is after its attention: resid_mid, or resid_post without an MLP."""
    return Site.resid_post(layer) if model.cfg.attn_only else Site.resid_mid(layer)


def clean_sites(model, starts: list[int], shortcut: bool) -> list[Site]:
    """What the clean run keeps for groups starting at `starts`."""
    if not shortcut:
        return [Site.resid_pre(layer) for layer in starts]
    return [s for layer in starts for s in (Site.z(layer), Site.attn_out(layer), _after_attention(model, layer))]


def _stacked_where(mask: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """Per stacked unit (leading axis of `mask`), `new` where the mask is set, else `old`."""
    ndim = max(new.ndim, old.ndim)
    return torch.where(mask.view(-1, *[1] * (ndim - 1)), new, old)


def _shortcut_resid(
    model, layer: int, n_units: int, masks: dict[Site, Tensor], clean: dict[Site, Tensor], replacements: dict
) -> Tensor:
    """Residual stream leaving block `layer` for every stacked unit, without recomputing its attention.

    Block output is linear in z: ablating heads adds (z_replaced - z) @ W_O, summed over the unit's heads, to
    the clean stream after attention; replacing attn_out adds (replacement - attn_out). The MLP, if any, is
    then run on that stream — or replaced, for units ablating it. Consumes the masks of `layer`."""
    after_attention = clean[_after_attention(model, layer)]
    stream = after_attention.expand(n_units, *after_attention.shape)  # unit batch pos d_model
    heads = masks.pop(Site.z(layer), None)
    if heads is not None:
        z, value = clean[Site.z(layer)], replacements[Site.z(layer)]
        change = -z if value is None else value - z
        per_head = einops.einsum(change, model.W_O[layer], "batch pos head d_head, head d_head d_model -> batch pos head d_model")
        stream = stream + einops.einsum(
            heads.to(per_head.dtype), per_head, "unit head, batch pos head d_model -> unit batch pos d_model"
        )
    attn = masks.pop(Site.attn_out(layer), None)
    if attn is not None:
        out, value = clean[Site.attn_out(layer)], replacements[Site.attn_out(layer)]
        change = -out if value is None else value - out
        stream = stream + _stacked_where(attn, change.unsqueeze(0), torch.zeros((), dtype=stream.dtype))
    mlp = masks.pop(Site.mlp_out(layer), None)
    if not model.cfg.attn_only:
        block = model.blocks[layer]
        mlp_out = block.mlp(block.ln2(stream.flatten(0, 1))).view(stream.shape)
        if mlp is not None:
            value = replacements[Site.mlp_out(layer)]
            mlp_out = _stacked_where(mlp, torch.zeros((), dtype=stream.dtype) if value is None else value.unsqueeze(0), mlp_out)
        stream = stream + mlp_out
    return stream.flatten(0, 1)


def _run_group(
    model,
    units: list[Unit],
    start: int,
    clean: dict[Site, Tensor],
    replacements: dict,
    tokens: Tensor,
    rows: Tensor,
    metric: Metric,
    shortcut: bool,
) -> Tensor:
    """Per-unit sums of the row metric for units whose earliest ablated layer is `start`, in one forward."""
    n_units = len(units)
    masks = _masks(units, model.cfg.n_heads)
    if shortcut:
        resid, restart = _shortcut_resid(model, start, n_units, masks, clean, replacements), start + 1
    else:
        resid, restart = clean[Site.resid_pre(start)].repeat(n_units, 1, 1), start
    hooks = [(site.hook_name, _stack_hook(mask, replacements[site], n_units)) for site, mask in masks.items()]
    logits = forward_from(model, resid, restart, hooks)
    values = metric(logits, tokens.repeat(n_units, 1), rows.repeat(n_units))
    return values.view(n_units, -1).sum(dim=1).double()


@torch.no_grad()
def evaluate_units(
    model,
    tokens: Int[Tensor, "batch pos"],
    units: list[Unit],
    *,
    method: Method = "mean",
    metric: "str | Metric" = "loss",
    reference: Int[Tensor, "batch pos"] | None = None,
    seed: int = 0,
    batch_size: int = 32,
    max_stacked_rows: int | None = None,
) -> tuple[float, Float[Tensor, " unit"]]:
    """Clean metric and the metric with each unit ablated, both averaged over all rows of `tokens`."""
    check_tokens(tokens, model)
    if method not in METHODS:
        raise DataError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    _, metric_fn = resolve_metric(metric)
    sites = sorted({cell.site for unit in units for cell in unit}, key=lambda s: (s.layer, s.kind))
    for site in sites:
        site.check(model)
    shortcut = _runs_blocks_directly(model)
    starts = sorted({min(cell.layer for cell in unit) for unit in units})
    keep = clean_sites(model, starts, shortcut)
    n_rows, pos = tokens.shape
    batches = [torch.arange(first, min(first + batch_size, n_rows)) for first in range(0, n_rows, batch_size)]
    # The dataset mean can come from the clean pass itself when its kept activations fit in memory.
    fused = method == "mean" and reference is None and _kept_bytes(model, keep, n_rows, pos) <= CLEAN_BUDGET
    stored: list[tuple[dict[Site, Tensor], float]] = []
    if fused:
        sums: dict[Site, Tensor] = {}
        for rows in batches:
            clean, logits = _clean_run(model, tokens[rows], sorted(set(keep) | set(sites), key=str))
            for site in sites:
                total = clean[site].double().sum(dim=0)
                sums[site] = total if site not in sums else sums[site] + total
            stored.append(({site: clean[site] for site in keep}, float(metric_fn(logits, tokens[rows], rows).double().sum())))
        dtype = next(model.parameters()).dtype
        replacement = Replacements.from_means({site: (sums[site] / n_rows).to(dtype).unsqueeze(0) for site in sites})
    else:
        replacement = Replacements(model, method, sites, tokens, reference, seed, batch_size)
    budget = max_stacked_rows or min(max(STACK_ROWS, batch_size), max(1, LOGIT_BUDGET // (pos * model.cfg.d_vocab)))
    totals = torch.zeros(len(units), dtype=torch.float64)
    baseline = 0.0
    for index, rows in enumerate(batches):
        chunk = tokens[rows]
        if fused:
            clean, clean_sum = stored[index]
        else:
            clean, clean_logits = _clean_run(model, chunk, keep)
            clean_sum = float(metric_fn(clean_logits, chunk, rows).double().sum())
        baseline += clean_sum
        values = replacement.for_rows(rows)
        per_forward = max(1, budget // len(rows))
        for start in starts:
            indices = [i for i, unit in enumerate(units) if min(cell.layer for cell in unit) == start]
            for group in range(0, len(indices), per_forward):
                chosen = indices[group : group + per_forward]
                totals[chosen] += _run_group(
                    model, [units[i] for i in chosen], start, clean, values, chunk, rows, metric_fn, shortcut
                )
    return baseline / n_rows, (totals / n_rows).float()
