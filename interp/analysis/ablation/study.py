"""Scripted ablation studies: every head, every pair of heads, or every layer component, in few forwards.

Methods: "zero" (activation -> 0), "mean" (its per-position mean over `reference`, default the data),
"resample" (row i takes the activation of source row `resample_rows(n_source, n_rows, seed)[i]`, source
default the data). Heads are ablated at hook_z (a head's z @ W_O is its output), layer components at
hook_attn_out / hook_mlp_out. The effect of an ablation is its metric minus the clean metric. How the
ablations share forward passes (and skip the layers before the ablated one) is in `ablation_engine`.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> result = ablation_study(model, tokens, method="mean", over="heads")
>>> result.effects.shape, sorted(result.top(1)[0])        # [layer head]; top() ranks by |effect|
(torch.Size([2, 2]), ['effect', 'head', 'layer', 'name', 'value'])
"""

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.ablation.engine import METHODS, Cell, Method, Unit, evaluate_units
from interp.analysis.core.metrics import Metric, loss_metric, resolve_metric
from interp.core.errors import DataError

Over = Literal["heads", "layers", "pairs"]
OVERS = ("heads", "layers", "pairs")
__all__ = ["METHODS", "OVERS", "AblationResult", "Cell", "ablation_study", "ablation_units", "evaluate_units"]


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
                out.append(
                    {
                        "name": f"L{layer}.{self.components[index]}",
                        "layer": layer,
                        "component": self.components[index],
                        **self._cell(layer, index),
                    }
                )
        else:
            n_layers, n_heads = self.effects.shape[:2]
            heads = list(itertools.product(range(n_layers), range(n_heads)))
            for (la, ha), (lb, hb) in itertools.combinations(heads, 2):
                single = float(self.effects[la, ha, la, ha]) + float(self.effects[lb, hb, lb, hb])
                cell = self._cell(la, ha, lb, hb)
                out.append(
                    {
                        "name": f"L{la}H{ha}+L{lb}H{hb}",
                        "layer_a": la,
                        "head_a": ha,
                        "layer_b": lb,
                        "head_b": hb,
                        **cell,
                        "interaction": cell["effect"] - single,
                    }
                )
        return out

    def _cell(self, *index: int) -> dict[str, float]:
        return {"value": float(self.values[index]), "effect": float(self.effects[index])}

    def top(self, k: int = 5) -> list[dict[str, Any]]:
        """The k ablations with the largest absolute effect."""
        return sorted(self.rows, key=lambda row: -abs(row["effect"]))[:k]


def predicted_positions_loss(logits: Tensor, tokens: Tensor, rows: Tensor) -> Tensor:
    """The "loss" row metric for a model that predicts only the last logits.shape[1] positions (a PerceiverAR's
    latents): logits position j predicts the token after tokens[:, -pos + j]."""
    return loss_metric(logits, tokens[:, -logits.shape[1] :], rows)


def _row_metric(model, metric: "str | Metric") -> "str | Metric":
    from interp.variants.perceiver_ar import PerceiverAR  # the model exists, so its libraries are loaded already

    return predicted_positions_loss if metric == "loss" and isinstance(model, PerceiverAR) else metric


# ---- what to ablate ---------------------------------------------------------------------------------------


def ablation_units(model, over: Over) -> list[Unit]:
    """The sets of cells ablated together, one per ablation (pairs include the single heads first)."""
    cfg = model.cfg
    heads = [Cell("head", layer, head) for layer in range(cfg.n_layers) for head in range(cfg.n_heads)]
    if over == "heads":
        return [frozenset([cell]) for cell in heads]
    if over == "pairs":
        return [frozenset([cell]) for cell in heads] + [frozenset(pair) for pair in itertools.combinations(heads, 2)]
    components = ["attn"] if cfg.attn_only else ["attn", "mlp"]
    return [frozenset([Cell(c, layer)]) for layer in range(cfg.n_layers) for c in components]


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

    `metric` is "loss" or a row metric `(logits, tokens, rows) -> [batch]` (see interp.analysis.core.metrics).
    On a PerceiverAR model "loss" is the loss on the positions it predicts, its last n_latents.

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
    >>> study = ablation_study(model, tokens, method="zero", over="pairs")
    >>> study.effects.shape, study.effects.equal(study.effects.permute(2, 3, 0, 1))   # symmetric
    (torch.Size([2, 2, 2, 2]), True)
    """
    if over not in OVERS:
        raise DataError(f"over must be one of {OVERS}, got {over!r}")
    metric_name, _ = resolve_metric(metric)
    units = ablation_units(model, over)
    baseline, values = evaluate_units(
        model,
        tokens,
        units,
        method=method,
        metric=_row_metric(model, metric),
        reference=reference,
        seed=seed,
        batch_size=batch_size,
        max_stacked_rows=max_stacked_rows,
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
