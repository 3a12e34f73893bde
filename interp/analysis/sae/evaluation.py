"""How good a sparse dictionary is on held-out tokens: reconstruction, sparsity, and its effect on the model.

On token rows `[batch pos]` (positions before the config's `skip_positions` left out everywhere), with `x`
the dictionary's input vectors, `y` its target (`x` for an SAE, the output site for a transcoder) and `ŷ` its
output, summed over the `n_tokens` evaluated tokens:

    explained_variance  1 - Σ‖y - ŷ‖² / Σ‖y - mean(y)‖²
    mse                 Σ‖y - ŷ‖² / (n_tokens * d_out)                  (per element)
    l0                  mean number of active (> 0) features per token
    feature_density     per feature, the fraction of tokens it is active on
    dead_fraction       features active on none of the first `dead_window` tokens (default: all of them)
    dense_fraction      features active on more than `dense_threshold` of the tokens
    l2_ratio            mean over tokens of ‖ŷ‖ / ‖y‖ (tokens with y = 0 left out), SAELens's `l2_ratio`
    relative_reconstruction_bias  Σ‖ŷ‖² / Σ ŷ·y: the γ minimising Σ‖ŷ/γ - y‖² (Rajamanoharan et al. 2024,
                        "Improving Dictionary Learning with Gated Sparse Autoencoders", §5.1); < 1 is shrinkage

Both shrinkage figures are 1 for a perfect reconstruction. The model's next-token cross-entropy (over the
predictions made at evaluated positions) is measured clean, with the dictionary spliced in (`Splice`), with the
target site zero-ablated (`ZeroAblation`) and mean-ablated (`MeanAblation`, the mean over the same tokens), each
condition one mini-batched pass; head sites ablate that head (or all heads). Then

    ce_recovered       = (CE_zero - CE_spliced) / (CE_zero - CE_clean)
    ce_recovered_mean  = (CE_mean - CE_spliced) / (CE_mean - CE_clean)

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> tokens = torch.randint(11, (6, 8), generator=torch.Generator().manual_seed(0))
>>> sae = SparseDictionary(d_in=16, n_features=64, kind="topk", k=4, seed=0)
>>> result = evaluate_dictionary(model, sae, SAEConfig(site="resid_pre1", n_features=64, k=4), tokens, batch_size=4)
>>> result.n_tokens, result.l0 <= 4, result.feature_density.shape
(48, True, torch.Size([64]))
"""

import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.cache import capture_into, check_tokens, site_value
from interp.analysis.core.interventions import MeanAblation, ZeroAblation, apply
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.site_vectors import to_vectors
from interp.analysis.sae.splice import Splice
from interp.core.errors import ConfigError, DataError
from interp.model.losses import per_token_loss


@dataclass(frozen=True)
class DictionaryEvaluation:
    """The figures of one dictionary on held-out tokens (see the module doc for each definition)."""

    site: str
    output_site: str | None
    n_tokens: int  # activation vectors the reconstruction and sparsity figures rest on
    n_predictions: int  # next-token predictions the cross-entropies average over
    explained_variance: float
    mse: float
    l0: float
    dead_fraction: float
    dead_window: int
    dense_fraction: float
    dense_threshold: float
    l2_ratio: float
    relative_reconstruction_bias: float
    ce_clean: float
    ce_spliced: float
    ce_zero_ablated: float
    ce_mean_ablated: float
    ce_recovered: float
    ce_recovered_mean: float
    feature_density: Float[Tensor, " n_features"] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures: NaN (an undefined ratio) becomes None, the density a list."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                value = value.tolist()
            elif isinstance(value, float) and not math.isfinite(value):
                value = None
            out[f.name] = value
        return out


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0 else float("nan")


def _check(model, sae, config, tokens, batch_size, dead_window, dense_threshold) -> None:
    if not isinstance(sae, SparseDictionary):
        raise ConfigError(f"evaluate_dictionary needs a SparseDictionary, got {type(sae).__name__}")
    if not isinstance(config, SAEConfig):
        raise ConfigError(f"evaluate_dictionary needs the dictionary's SAEConfig, got {type(config).__name__}")
    if sae.kind != config.kind or sae.n_features != config.n_features or sae.transcoder != config.is_transcoder:
        what = "transcoder" if sae.transcoder else "SAE"
        raise ConfigError(
            f"the dictionary ({what}, {sae.kind}, {sae.n_features} features) does not match its config "
            f"({config.kind}, {config.n_features} features, output_site={config.output_site}); pass the config it was trained with"
        )
    check_tokens(tokens, model)
    if tokens.shape[1] - 1 <= config.skip_positions:
        raise DataError(
            f"rows of {tokens.shape[1]} tokens leave no prediction after skip_positions={config.skip_positions}; use longer rows"
        )
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(dense_threshold, (int, float)) or isinstance(dense_threshold, bool) or not 0 <= dense_threshold < 1:
        raise DataError(f"dense_threshold must be a fraction in [0, 1), got {dense_threshold!r}")
    n_tokens = tokens.shape[0] * (tokens.shape[1] - config.skip_positions)
    if dead_window is not None and (
        not isinstance(dead_window, int) or isinstance(dead_window, bool) or not 0 < dead_window <= n_tokens
    ):
        raise DataError(f"dead_window must be a number of tokens in 1..{n_tokens} (the tokens evaluated), got {dead_window!r}")


class _Totals:
    """Running sums over mini-batches (float64), from which every reconstruction figure is read."""

    def __init__(self, n_features: int, d_out: int, dead_window: int | None, device: torch.device) -> None:
        zeros = lambda *shape: torch.zeros(shape, dtype=torch.float64, device=device)  # noqa: E731
        self.n = 0
        self.squared_error, self.sum_sq, self.sum_y = zeros(), zeros(), zeros(d_out)
        self.active, self.active_in_window = zeros(n_features), zeros(n_features)
        self.ratio_sum, self.ratio_n, self.dot, self.out_sq = zeros(), 0, zeros(), zeros()
        self.dead_window = dead_window
        self.raw_sum: Tensor | None = None  # the target hook's activation, summed (for the mean ablation)

    def add(self, features: Tensor, out: Tensor, y: Tensor, raw: Tensor) -> None:
        """One mini-batch: features/out/y [batch pos ·] at evaluated positions; raw is the target hook's value there."""
        device = features.device
        features, out, y = features.flatten(0, 1).double(), out.flatten(0, 1).double(), y.flatten(0, 1).to(device).double()
        first, count = self.n, y.shape[0]
        self.n += count
        self.squared_error += (y - out).pow(2).sum()
        self.sum_sq += y.pow(2).sum()
        self.sum_y += y.sum(0)
        on = features > 0
        self.active += on.sum(0)
        if self.dead_window is not None:
            in_window = torch.arange(first, first + count, device=on.device) < self.dead_window
            self.active_in_window += (on & in_window[:, None]).sum(0)
        y_norm, out_norm = y.norm(dim=-1), out.norm(dim=-1)
        nonzero = y_norm > 0
        self.ratio_sum += (out_norm[nonzero] / y_norm[nonzero]).sum()
        self.ratio_n += int(nonzero.sum())
        self.dot += (out * y).sum()
        self.out_sq += out.pow(2).sum()
        raw_total = raw.to(device).double().sum(dim=(0, 1))
        self.raw_sum = raw_total if self.raw_sum is None else self.raw_sum + raw_total


def _mean_loss(model, tokens: Tensor, batch_size: int, skip: int, interventions: list) -> float:
    """Mean next-token loss over predictions from positions >= skip, with `interventions` applied."""
    total, count = 0.0, 0
    with apply(model, *interventions):
        for start in range(0, tokens.shape[0], batch_size):
            chunk = tokens[start : start + batch_size]
            loss = per_token_loss(model(chunk), chunk)[:, skip:]
            total += float(loss.double().sum())
            count += loss.numel()
    return total / count


@torch.no_grad()
def evaluate_dictionary(
    model,
    sae: SparseDictionary,
    config: SAEConfig,
    tokens: Int[Tensor, "batch pos"],
    *,
    batch_size: int = 32,
    dead_window: int | None = None,
    dense_threshold: float = 0.1,
) -> DictionaryEvaluation:
    """Evaluate `sae` (trained as `config`) on `model` over held-out `tokens`; see the module doc for the figures."""
    _check(model, sae, config, tokens, batch_size, dead_window, dense_threshold)
    skip = config.skip_positions
    splice = Splice(sae, config.site, config.output_site, skip_positions=skip)
    splice.check(model)  # a site the model lacks, widths that do not fit: refused before any forward
    site, target = splice.site, splice.target_site
    totals = _Totals(sae.n_features, sae.d_out, dead_window, sae.W_enc.device)
    hook_names = list(dict.fromkeys([site.hook_name, target.hook_name]))

    clean_total, n_predictions = 0.0, 0
    for start in range(0, tokens.shape[0], batch_size):
        chunk = tokens[start : start + batch_size]
        captured: dict[str, Tensor] = {}
        logits = model.run_with_hooks(chunk, fwd_hooks=[(name, capture_into(captured, name)) for name in hook_names])
        loss = per_token_loss(logits, chunk)[:, skip:]
        clean_total += float(loss.double().sum())
        n_predictions += loss.numel()
        x = to_vectors(site, site_value(model, site, captured[site.hook_name]))[:, skip:]
        y = to_vectors(target, site_value(model, target, captured[target.hook_name]))[:, skip:]
        features = sae.encode(x.to(sae.W_enc))
        totals.add(features, sae.decode(features), y, captured[target.hook_name][:, skip:])

    n = totals.n
    variance = float(totals.sum_sq - totals.sum_y.pow(2).sum() / n)
    density = (totals.active / n).float()
    window = n if dead_window is None else dead_window
    ever_active = totals.active if dead_window is None else totals.active_in_window
    positions = None if skip == 0 else tuple(range(skip, tokens.shape[1]))
    mean = (totals.raw_sum / n).unsqueeze(0).to(captured[target.hook_name])

    ce_clean = clean_total / n_predictions
    ce_spliced = _mean_loss(model, tokens, batch_size, skip, [splice])
    ce_zero = _mean_loss(model, tokens, batch_size, skip, [ZeroAblation(target, positions=positions)])
    ce_mean = _mean_loss(model, tokens, batch_size, skip, [MeanAblation(target, reference=mean, positions=positions)])
    return DictionaryEvaluation(
        site=str(site),
        output_site=None if config.output_site is None else str(target),
        n_tokens=n,
        n_predictions=n_predictions,
        explained_variance=1.0 - _ratio(float(totals.squared_error), variance),
        mse=float(totals.squared_error) / (n * sae.d_out),
        l0=float(totals.active.sum()) / n,
        dead_fraction=float((ever_active == 0).double().mean()),
        dead_window=window,
        dense_fraction=float((density > dense_threshold).double().mean()),
        dense_threshold=float(dense_threshold),
        l2_ratio=_ratio(float(totals.ratio_sum), totals.ratio_n),
        relative_reconstruction_bias=_ratio(float(totals.out_sq), float(totals.dot)),
        ce_clean=ce_clean,
        ce_spliced=ce_spliced,
        ce_zero_ablated=ce_zero,
        ce_mean_ablated=ce_mean,
        ce_recovered=_ratio(ce_zero - ce_spliced, ce_zero - ce_clean),
        ce_recovered_mean=_ratio(ce_mean - ce_spliced, ce_mean - ce_clean),
        feature_density=density,
    )


__all__ = ["DictionaryEvaluation", "evaluate_dictionary"]
