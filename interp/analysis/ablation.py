"""Scripted ablation studies: every head, every pair of heads, or every layer component, in few forwards.

How it stays cheap: for each mini-batch the clean run is done once and the residual stream entering every
layer is kept. An ablation whose earliest ablated layer is L starts from that residual at layer L (blocks
before L would compute the same thing again), and several ablations are stacked along the batch axis and run
in one forward, each stacked copy carrying its own mask of ablated heads. On the 2-layer, 4-head demo model
all 8 single-head ablations take two forwards per mini-batch instead of eight full ones.

Methods: "zero" (activation -> 0), "mean" (its per-position mean over `reference`, default the data),
"resample" (row i takes the activation of source row `resample_rows(n_source, n_rows, seed)[i]`, source
default the data). Heads are ablated at hook_z (a head's z @ W_O is its output), layer components at
hook_attn_out / hook_mlp_out. The effect of an ablation is its metric minus the clean metric.

>>> result = ablation_study(model, tokens, method="mean", over="heads")   # doctest: +SKIP
>>> result.effects.shape, result.top(3)                                   # doctest: +SKIP
(torch.Size([2, 4]), [{'name': 'L1H2', 'layer': 1, 'head': 2, 'value': 3.1, 'effect': 0.9}, ...])
"""

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.cache import cache_activations, check_tokens
from interp.analysis.interventions import resample_rows
from interp.analysis.metrics import Metric, resolve_metric
from interp.analysis.sites import Site
from interp.errors import DataError

Method = Literal["zero", "mean", "resample"]
Over = Literal["heads", "layers", "pairs"]
METHODS = ("zero", "mean", "resample")
OVERS = ("heads", "layers", "pairs")
LOGIT_BUDGET = 2**25  # logit entries per stacked forward (128 MiB in float32) bounds memory on big vocabularies


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


@dataclass(frozen=True, eq=False)
class AblationResult:
    """Metric of every ablation and its effect (ablated - baseline).

    Shapes: heads -> [layer head]; layers -> [layer component] (components "attn", "mlp");
    pairs -> [layer head layer head], symmetric, with single-head ablations on the diagonal.
    """

    method: str
    over: str
    metric: str
    baseline: float
    values: Tensor
    effects: Tensor
    components: tuple[str, ...]
    n_rows: int
    seed: int = 0

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The table: one dict per ablation (pairs: each unordered pair once, with its interaction)."""
        out: list[dict[str, Any]] = []
        if self.over == "heads":
            for layer, head in itertools.product(*map(range, self.effects.shape)):
                out.append({"name": f"L{layer}H{head}", "layer": layer, "head": head, **self._cell(layer, head)})
        elif self.over == "layers":
            for layer, index in itertools.product(*map(range, self.effects.shape)):
                out.append({"name": f"L{layer}.{self.components[index]}", "layer": layer, "component": self.components[index], **self._cell(layer, index)})
        else:
            n_layers, n_heads = self.effects.shape[:2]
            heads = list(itertools.product(range(n_layers), range(n_heads)))
            for (la, ha), (lb, hb) in itertools.combinations(heads, 2):
                single = float(self.effects[la, ha, la, ha]) + float(self.effects[lb, hb, lb, hb])
                cell = self._cell(la, ha, lb, hb)
                out.append({"name": f"L{la}H{ha}+L{lb}H{hb}", "layer_a": la, "head_a": ha, "layer_b": lb, "head_b": hb, **cell, "interaction": cell["effect"] - single})
        return out

    def _cell(self, *index: int) -> dict[str, float]:
        return {"value": float(self.values[index]), "effect": float(self.effects[index])}

    def top(self, k: int = 5) -> list[dict[str, Any]]:
        """The k ablations with the largest absolute effect."""
        return sorted(self.rows, key=lambda row: -abs(row["effect"]))[:k]


# ---- what to ablate ---------------------------------------------------------------------------------------


def ablation_units(model, over: Over) -> list[frozenset[Cell]]:
    """The sets of cells ablated together, one per ablation (pairs include the single heads first)."""
    cfg = model.cfg
    heads = [Cell("head", layer, head) for layer in range(cfg.n_layers) for head in range(cfg.n_heads)]
    if over == "heads":
        return [frozenset([cell]) for cell in heads]
    if over == "pairs":
        return [frozenset([cell]) for cell in heads] + [frozenset(pair) for pair in itertools.combinations(heads, 2)]
    components = ["attn"] if cfg.attn_only else ["attn", "mlp"]
    return [frozenset([Cell(c, layer)]) for layer in range(cfg.n_layers) for c in components]


# ---- replacement values -----------------------------------------------------------------------------------


class _Replacements:
    """What an ablated activation becomes, per site: zeros, a dataset mean, or resampled source rows."""

    def __init__(self, model, method: Method, sites: list[Site], tokens: Tensor, reference: Tensor | None, seed: int, batch_size: int):
        self.model, self.method, self.sites, self.batch_size = model, method, sites, batch_size
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

    def for_rows(self, rows: Tensor) -> dict[Site, Tensor | None]:
        """Replacement per site for these data rows, with a batch axis of 1 or len(rows); None means zero."""
        if self.method == "zero":
            return {site: None for site in self.sites}
        if self.method == "mean":
            return self.means
        acts = cache_activations(self.model, self.source_tokens[rows], self.sites)
        return {site: acts[site] for site in self.sites}


# ---- the stacked forward ----------------------------------------------------------------------------------


def _stack_hook(mask: Tensor, replacement: Tensor | None, n_units: int):
    """Hook editing a batch of n_units stacked copies; mask is [unit] or [unit head]."""

    def hook(activation: Tensor, hook) -> Tensor:
        stacked = activation.view(n_units, -1, *activation.shape[1:])  # unit batch pos ...
        shape = [n_units] + [1] * (stacked.ndim - 1)
        if mask.ndim == 2:  # per head: the head axis of [unit batch pos head d_head]
            shape[3] = mask.shape[1]
        value = torch.zeros((), dtype=activation.dtype) if replacement is None else replacement.unsqueeze(0)
        return torch.where(mask.view(shape), value, stacked).view(activation.shape)

    return hook


def _run_units(model, units: list[frozenset[Cell]], start: int, resid: Tensor, replacements: dict[Site, Tensor | None], tokens: Tensor, rows: Tensor, metric: Metric) -> Tensor:
    """Per-unit sums of the row metric for one group of units stacked into a single forward."""
    n_units, n_heads = len(units), model.cfg.n_heads
    masks: dict[Site, Tensor] = {}
    for index, unit in enumerate(units):
        for cell in unit:
            if cell.site not in masks:
                masks[cell.site] = torch.zeros((n_units, n_heads) if cell.component == "head" else (n_units,), dtype=torch.bool)
            masks[cell.site][(index, cell.head) if cell.component == "head" else index] = True
    hooks = [(site.hook_name, _stack_hook(mask, replacements[site], n_units)) for site, mask in masks.items()]
    stacked = resid.repeat(n_units, *[1] * (resid.ndim - 1))
    logits = model.run_with_hooks(stacked, fwd_hooks=hooks, start_at_layer=start)
    values = metric(logits, tokens.repeat(n_units, 1), rows.repeat(n_units))
    return values.view(n_units, -1).sum(dim=1).double()


def _clean_run(model, tokens: Tensor, layers: list[int]) -> tuple[dict[int, Tensor], Tensor]:
    """Clean logits and the residual stream entering each of `layers`, from one forward."""
    resid: dict[int, Tensor] = {}

    def keep(layer: int):
        def hook(activation: Tensor, hook) -> None:
            resid[layer] = activation.detach()

        return hook

    logits = model.run_with_hooks(tokens, fwd_hooks=[(Site.resid_pre(layer).hook_name, keep(layer)) for layer in layers])
    return resid, logits


@torch.no_grad()
def evaluate_units(
    model,
    tokens: Int[Tensor, "batch pos"],
    units: list[frozenset[Cell]],
    *,
    method: Method = "mean",
    metric: "str | Metric" = "loss",
    reference: Int[Tensor, "batch pos"] | None = None,
    seed: int = 0,
    batch_size: int = 32,
    max_stacked_rows: int | None = None,
) -> tuple[float, Float[Tensor, "unit"]]:
    """Clean metric and the metric with each unit ablated, averaged over all rows of `tokens`."""
    check_tokens(tokens, model)
    if method not in METHODS:
        raise DataError(f"method must be one of {METHODS}, got {method!r}")
    _, metric_fn = resolve_metric(metric)
    sites = sorted({cell.site for unit in units for cell in unit}, key=lambda s: (s.layer, s.kind))
    for site in sites:
        site.check(model)
    replacement = _Replacements(model, method, sites, tokens, reference, seed, batch_size)
    n_rows, pos = tokens.shape
    budget = max_stacked_rows or max(1, LOGIT_BUDGET // (pos * model.cfg.d_vocab))
    starts = sorted({min(cell.layer for cell in unit) for unit in units})
    totals = torch.zeros(len(units), dtype=torch.float64)
    baseline = 0.0
    for first in range(0, n_rows, batch_size):
        rows = torch.arange(first, min(first + batch_size, n_rows))
        chunk = tokens[rows]
        resid, clean_logits = _clean_run(model, chunk, starts)
        baseline += float(metric_fn(clean_logits, chunk, rows).double().sum())
        values = replacement.for_rows(rows)
        per_forward = max(1, budget // len(rows))
        for start in starts:
            indices = [i for i, unit in enumerate(units) if min(cell.layer for cell in unit) == start]
            for group in range(0, len(indices), per_forward):
                chosen = indices[group : group + per_forward]
                sums = _run_units(model, [units[i] for i in chosen], start, resid[start], values, chunk, rows, metric_fn)
                totals[chosen] += sums
    return baseline / n_rows, (totals / n_rows).float()


def ablation_study(
    model,
    tokens: Int[Tensor, "batch pos"],
    *,
    method: Method = "mean",
    over: Over = "heads",
    metric: "str | Metric" = "loss",
    reference: Int[Tensor, "batch pos"] | None = None,
    seed: int = 0,
    batch_size: int = 32,
    max_stacked_rows: int | None = None,
) -> AblationResult:
    """Ablate every head (over="heads"), every pair of heads ("pairs") or every attention/MLP layer ("layers").

    `metric` is "loss" or a row metric `(logits, tokens, rows) -> [batch]` (see interp.analysis.metrics).

    >>> study = ablation_study(model, val_tokens, method="zero", over="pairs")   # doctest: +SKIP
    >>> study.effects.shape                                                     # doctest: +SKIP
    torch.Size([2, 4, 2, 4])
    """
    if over not in OVERS:
        raise DataError(f"over must be one of {OVERS}, got {over!r}")
    metric_name, _ = resolve_metric(metric)
    units = ablation_units(model, over)
    baseline, values = evaluate_units(
        model, tokens, units, method=method, metric=metric, reference=reference, seed=seed, batch_size=batch_size, max_stacked_rows=max_stacked_rows
    )
    cfg = model.cfg
    components: tuple[str, ...] = ("head",)
    if over == "heads":
        grid = values.view(cfg.n_layers, cfg.n_heads)
    elif over == "layers":
        components = ("attn",) if cfg.attn_only else ("attn", "mlp")
        grid = values.view(cfg.n_layers, len(components))
    else:
        n = cfg.n_layers * cfg.n_heads
        matrix = torch.empty(n, n)
        matrix[range(n), range(n)] = values[:n]
        for value, (a, b) in zip(values[n:], itertools.combinations(range(n), 2)):
            matrix[a, b] = matrix[b, a] = value
        grid = matrix.view(cfg.n_layers, cfg.n_heads, cfg.n_layers, cfg.n_heads)
    return AblationResult(
        method=method,
        over=over,
        metric=metric_name,
        baseline=baseline,
        values=grid,
        effects=grid - baseline,
        components=components,
        n_rows=tokens.shape[0],
        seed=seed,
    )
