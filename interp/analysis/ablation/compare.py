"""Compare the heads of two models (two checkpoints of a run, or two runs) on the same inputs.

For every head: its ablation effect in each model, side by side, and how differently it attends — the
distance between the two models' attention patterns, averaged over rows and query positions. Distances:
"js" (Jensen-Shannon divergence in bits, 0 = same pattern, 1 = disjoint) or "tv" (total variation, same range).

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> tiny = dict(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True)
>>> early, late = build_model(ModelConfig(**tiny, seed=0)), build_model(ModelConfig(**tiny, seed=1))
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> comparison = compare_heads(early, late, tokens, labels=("step 500", "step 6000"))
>>> comparison.pattern_distance.shape, comparison.rows[0]["name"]       # [layer head]
(torch.Size([2, 2]), 'L0H0')
>>> compare_heads(early, early, tokens).pattern_distance.abs().max().item() < 1e-6    # a model against itself
True
"""

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.ablation.study import Method, ablation_study
from interp.analysis.core.cache import cache_activations, check_tokens
from interp.analysis.core.metrics import Metric
from interp.core.errors import DataError
from interp.model.sites import Site

Distance = Literal["js", "tv"]


def pattern_distance(
    pattern_a: Float[Tensor, "batch head query_pos key_pos"],
    pattern_b: Float[Tensor, "batch head query_pos key_pos"],
    distance: Distance = "js",
) -> Float[Tensor, "batch head query_pos"]:
    """Distance between two attention distributions for every row, head and query position.

    >>> p = torch.tensor([[[[1.0, 0.0]]]]); q = torch.tensor([[[[0.0, 1.0]]]])
    >>> pattern_distance(p, q).item(), pattern_distance(p, p, "tv").item()
    (1.0, 0.0)
    """
    a, b = pattern_a.double(), pattern_b.double()
    if distance == "tv":
        return 0.5 * (a - b).abs().sum(-1)
    if distance != "js":
        raise DataError(f"distance must be 'js' or 'tv', got {distance!r}")
    middle = 0.5 * (a + b)
    # xlogy makes 0 * log(0 / m) = 0: attention is exactly zero on masked (future) keys
    kl_a = (torch.xlogy(a, a) - torch.xlogy(a, middle)).sum(-1)
    kl_b = (torch.xlogy(b, b) - torch.xlogy(b, middle)).sum(-1)
    return (0.5 * (kl_a + kl_b) / torch.log(torch.tensor(2.0, dtype=torch.float64))).clamp(0, 1)


@dataclass(frozen=True, eq=False)
class HeadComparison:
    """Per-head ablation effects of two models and the distance between their attention patterns [layer head]."""

    labels: tuple[str, str]
    method: str
    metric: str
    distance: str
    baseline_a: float
    baseline_b: float
    effects_a: Tensor
    effects_b: Tensor
    pattern_distance: Tensor
    n_rows: int

    @property
    def rows(self) -> list[dict[str, Any]]:
        out = []
        for layer, head in itertools.product(*map(range, self.effects_a.shape)):
            a, b = float(self.effects_a[layer, head]), float(self.effects_b[layer, head])
            out.append(
                {
                    "name": f"L{layer}H{head}",
                    "layer": layer,
                    "head": head,
                    "effect_a": a,
                    "effect_b": b,
                    "effect_change": b - a,
                    "pattern_distance": float(self.pattern_distance[layer, head]),
                }
            )
        return out


def _check_comparable(model_a, model_b, tokens: Tensor) -> None:
    a, b = model_a.cfg, model_b.cfg
    if (a.n_layers, a.n_heads) != (b.n_layers, b.n_heads):
        raise DataError(
            f"cannot compare heads of models with different shapes: {a.n_layers} layers x {a.n_heads} heads "
            f"vs {b.n_layers} x {b.n_heads}"
        )
    check_tokens(tokens, model_a)
    check_tokens(tokens, model_b)


@torch.no_grad()
def mean_pattern_distance(
    model_a, model_b, tokens: Int[Tensor, "batch pos"], *, distance: Distance = "js", batch_size: int = 32
) -> Float[Tensor, "layer head"]:
    """Distance between the two models' patterns, averaged over rows and query positions, per head."""
    _check_comparable(model_a, model_b, tokens)
    sites = [Site.pattern(layer) for layer in range(model_a.cfg.n_layers)]
    total = torch.zeros(model_a.cfg.n_layers, model_a.cfg.n_heads, dtype=torch.float64)
    for start in range(0, len(tokens), batch_size):
        chunk = tokens[start : start + batch_size]
        acts_a, acts_b = cache_activations(model_a, chunk, sites), cache_activations(model_b, chunk, sites)
        for site in sites:
            total[site.layer] += pattern_distance(acts_a[site], acts_b[site], distance).sum(dim=(0, 2))
    return (total / (tokens.shape[0] * tokens.shape[1])).float()


def compare_heads(
    model_a,
    model_b,
    tokens: Int[Tensor, "batch pos"],
    *,
    method: Method = "mean",
    metric: "str | Metric" = "loss",
    distance: Distance = "js",
    labels: tuple[str, str] = ("A", "B"),
    seed: int = 0,
    batch_size: int = 32,
) -> HeadComparison:
    """Ablation effects of every head in both models and their attention-pattern distance, on `tokens`."""
    _check_comparable(model_a, model_b, tokens)
    study_a = ablation_study(model_a, tokens, method=method, metric=metric, seed=seed, batch_size=batch_size)
    study_b = ablation_study(model_b, tokens, method=method, metric=metric, seed=seed, batch_size=batch_size)
    return HeadComparison(
        labels=tuple(labels),
        method=method,
        metric=study_a.metric,
        distance=distance,
        baseline_a=study_a.baseline,
        baseline_b=study_b.baseline,
        effects_a=study_a.effects,
        effects_b=study_b.effects,
        pattern_distance=mean_pattern_distance(model_a, model_b, tokens, distance=distance, batch_size=batch_size),
        n_rows=tokens.shape[0],
    )


def comparison_to_dict(comparison: HeadComparison, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": "interp.head_comparison",
        "version": 1,
        "labels": list(comparison.labels),
        "method": comparison.method,
        "metric": comparison.metric,
        "distance": comparison.distance,
        "baseline_a": comparison.baseline_a,
        "baseline_b": comparison.baseline_b,
        "effects_a": comparison.effects_a.tolist(),
        "effects_b": comparison.effects_b.tolist(),
        "pattern_distance": comparison.pattern_distance.tolist(),
        "n_rows": comparison.n_rows,
        "rows": comparison.rows,
        "extra": extra or {},
    }
