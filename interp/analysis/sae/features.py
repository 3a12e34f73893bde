"""What each feature of a dictionary does on held-out text: where it fires, how strongly, and what it writes.

`feature_summaries` streams token rows through the model in mini-batches, encodes the dictionary's input site
at every token (the first `config.skip_positions` of each row left out) and keeps, per feature:

- its density (fraction of tokens where it is active), mean activation when active and largest activation;
- a histogram of its nonzero activations on log-spaced bins (activations span decades, so the bins are even in
  log10 of the activation): counted on a fixed fine grid (`FINE_PER_DECADE` bins per decade over
  10**LOG_LOW .. 10**LOG_HIGH, values outside clamped to the end bins), then merged into at most
  `histogram_bins` bins spanning the decades the feature occupies;
- its top `n_examples` activating tokens with the context around each (ties go to the earliest token): the
  tokens from pos - context[0] to pos + context[1] and the feature's activation at each (0 outside the row and
  at skipped positions), merged batch by batch (a top-k over the batch, then over running + batch) for all
  features at once.

Memory is bounded by one mini-batch, whatever the number of rows: a few tensors of batch_size * pos * n_features
numbers (the features, and the selection of each batch's top tokens), plus per feature n_examples * (window + 3)
numbers and the fine histogram (n_features * 600 int64; 2.5 MB for 512 features).

`logit_effects` is the decoder direction's direct effect on the logits (see there); `feature_summaries` records
why it is missing when the site's decoder cannot be mapped to the residual stream.

>>> from interp.analysis.sae.dictionary import SparseDictionary
>>> from interp.analysis.sae.config import SAEConfig
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.text.tokenizers import CharTokenizer
>>> model = build_model(ModelConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11, attn_only=True))
>>> config = SAEConfig(site="resid_post0", kind="topk", n_features=32, k=4)
>>> sae = SparseDictionary(d_in=16, n_features=32, kind="topk", k=4, seed=0)
>>> tokens = torch.randint(11, (6, 8), generator=torch.Generator().manual_seed(0))
>>> s = feature_summaries(model, sae, config, tokens, CharTokenizer("abcdefghijk"), n_examples=3, batch_size=4)
>>> s.n_tokens, s.top_values.shape, s.context_tokens.shape, s.top_logit_ids.shape
(48, torch.Size([32, 3]), torch.Size([32, 3, 12]), torch.Size([32, 8]))
>>> bool(torch.isclose(s.density.sum(), torch.tensor(4.0)))      # k = 4 features active at every token
True
"""

import math
from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.cache import cache_activations, check_tokens
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.site_vectors import to_vectors, vector_width
from interp.core.errors import ConfigError, DataError

LOG_LOW, LOG_HIGH, FINE_PER_DECADE = -6, 6, 50
FINE_BINS = (LOG_HIGH - LOG_LOW) * FINE_PER_DECADE
RESIDUAL_WRITERS = ("embed", "pos_embed", "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")


@dataclass(frozen=True)
class FeatureSummaries:
    """Per-feature statistics of one dictionary over held-out tokens (feature axis first everywhere).

    Examples are sorted by activation, largest first; slots beyond a feature's active tokens have value 0 and
    row = pos = -1. `context_tokens` is -1 outside the row. `token_text` maps every token id that appears in a
    context or a logit list to its display string. Logit fields are None when `logit_note` says why.
    """

    site: str
    kind: str
    target_site: str
    n_tokens: int
    context: tuple[int, int]
    density: Float[Tensor, " feature"]
    mean_active: Float[Tensor, " feature"]  # 0 for a dead feature
    max_activation: Float[Tensor, " feature"]
    histogram_counts: Int[Tensor, "feature bin"]
    histogram_edges: Float[Tensor, "feature edge"]  # activation values, log-spaced; edge = bin + 1
    top_values: Float[Tensor, "feature example"]
    top_rows: Int[Tensor, "feature example"]
    top_pos: Int[Tensor, "feature example"]
    context_tokens: Int[Tensor, "feature example window"]
    context_acts: Float[Tensor, "feature example window"]
    token_text: dict[int, str]
    top_logit_ids: Int[Tensor, "feature logit"] | None = None
    top_logit_values: Float[Tensor, "feature logit"] | None = None
    bottom_logit_ids: Int[Tensor, "feature logit"] | None = None
    bottom_logit_values: Float[Tensor, "feature logit"] | None = None
    logit_note: str = ""

    @property
    def n_features(self) -> int:
        return self.density.shape[0]

    @property
    def dead(self) -> Int[Tensor, " dead"]:
        """Features active on none of the tokens."""
        return (self.density == 0).nonzero().flatten()

    @property
    def n_dead(self) -> int:
        return int(self.dead.numel())

    @property
    def logit_effect(self) -> Float[Tensor, " feature"] | None:
        """The largest |direct logit effect| of each feature (None without logit effects)."""
        if self.top_logit_values is None:
            return None
        return torch.maximum(self.top_logit_values[:, 0].abs(), self.bottom_logit_values[:, 0].abs())


# ---- logit effects --------------------------------------------------------------------------------------------


def residual_directions(model, sae: SparseDictionary, config: SAEConfig) -> Float[Tensor, "feature d_model"]:
    """What one unit of each feature adds to the residual stream through the decoder (b_dec left out).

    Residual writers are the decoder rows themselves; `head_out` rows are summed over heads; `z` rows go through
    W_O (`sum_h W_dec[f, h] @ W_O[L, h]`) and `mlp_post` rows through the MLP's W_out. A transcoder's decoder
    writes its output site. Other sites (q, k, v, mlp_pre) reach the residual stream only through the
    attention pattern or a nonlinearity: ConfigError.
    """
    site = config.target_site
    width = vector_width(site, model.cfg)
    if sae.d_out != width:
        raise ConfigError(
            f"the dictionary writes vectors of width {sae.d_out}, but {site} has width {width}; is it for another model?"
        )
    decoder = sae.W_dec.detach()
    d_model = model.cfg.d_model
    if site.kind in RESIDUAL_WRITERS:
        return decoder
    if site.kind == "head_out":
        return decoder if site.head is not None else decoder.reshape(-1, model.cfg.n_heads, d_model).sum(1)
    if site.kind == "z":
        w_o = model.W_O[site.layer].detach().to(decoder.dtype)
        if site.head is not None:
            return decoder @ w_o[site.head]
        rows = decoder.reshape(-1, model.cfg.n_heads, model.cfg.d_head)
        return einops.einsum(rows, w_o, "feature head d_head, head d_head d_model -> feature d_model")
    if site.kind == "mlp_post":
        return decoder @ model.W_out[site.layer].detach().to(decoder.dtype)
    raise ConfigError(
        f"{site}: its decoder does not write the residual stream linearly (it passes an attention pattern or a "
        "nonlinearity); logit effects need a residual, attn_out, mlp_out, head_out, z or mlp_post site"
    )


@torch.no_grad()
def logit_effects(
    model, sae: SparseDictionary, config: SAEConfig, *, n_logits: int = 8, chunk: int = 256
) -> tuple[
    Int[Tensor, "feature logit"], Float[Tensor, "feature logit"], Int[Tensor, "feature logit"], Float[Tensor, "feature logit"]
]:
    """Top and bottom `n_logits` tokens of each feature's direct logit effect `direction @ W_U`.

    The direction is `residual_directions` (one unit of the feature). The direct path only, as in SAE
    dashboards: later layers are skipped and the final LayerNorm's scale is ignored (so the values compare
    tokens within a feature, not across models). Features are done `chunk` at a time ([chunk d_vocab] at once).
    Returns (top ids, top values, bottom ids, bottom values), values sorted from the extreme inwards.
    """
    directions = residual_directions(model, sae, config)
    w_u = model.W_U.detach().to(directions.dtype)
    n = min(n_logits, w_u.shape[1])
    parts = []
    for start in range(0, directions.shape[0], chunk):
        effects = directions[start : start + chunk] @ w_u
        top, bottom = effects.topk(n, dim=-1), effects.topk(n, dim=-1, largest=False)
        parts.append((top.indices, top.values, bottom.indices, bottom.values))
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))


# ---- streaming statistics -------------------------------------------------------------------------------------


def _fine_bins(values: Tensor) -> Tensor:
    index = ((values.log10() - LOG_LOW) * FINE_PER_DECADE).floor()
    return index.clamp(0, FINE_BINS - 1).long()


def _coarse_histogram(fine: Int[Tensor, "feature fine"], bins: int) -> tuple[Tensor, Tensor]:
    """Merge each feature's fine counts into at most `bins` bins over the fine bins it occupies."""
    occupied = fine > 0
    any_ = occupied.any(-1)
    grid = torch.arange(FINE_BINS)
    low = torch.where(occupied, grid, FINE_BINS).min(-1).values.where(any_, 0)
    high = torch.where(occupied, grid, -1).max(-1).values.where(any_, 0)
    width = (high - low + 1).div(bins, rounding_mode="floor") + ((high - low + 1) % bins > 0).long()
    width = width.clamp_min(1)
    coarse_index = ((grid[None] - low[:, None]).div(width[:, None], rounding_mode="floor")).clamp(0, bins - 1)
    counts = torch.zeros(fine.shape[0], bins, dtype=torch.long).scatter_add_(1, coarse_index, fine)
    edge_fine = low[:, None] + torch.arange(bins + 1)[None] * width[:, None]
    edges = 10.0 ** (LOG_LOW + edge_fine.double() / FINE_PER_DECADE)
    return counts, edges.float().where(any_[:, None], 0.0)


def _earliest_top(kept: Float[Tensor, "token feature"], n: int) -> tuple[Tensor, Tensor]:
    """Each feature's n largest values, ties going to the earliest tokens; returned in token order."""
    n = min(n, kept.shape[0])
    cut = kept.topk(n, dim=0).values[-1]
    above, tied = kept > cut, kept == cut
    chosen = above | (tied & (tied.cumsum(0) <= n - above.sum(0)))
    earlier_first = torch.arange(kept.shape[0], 0, -1)[:, None]
    index = (chosen * earlier_first).topk(n, dim=0).indices.sort(dim=0).values
    return kept.gather(0, index), index


class _TopExamples:
    """A running top-n (over tokens) of every feature's activations, with each example's window."""

    def __init__(self, n: int, n_features: int, offsets: Tensor):
        self.n, self.offsets = n, offsets
        self.values = torch.full((n, n_features), -math.inf)
        self.rows = torch.full((n, n_features), -1, dtype=torch.long)
        self.pos = torch.full((n, n_features), -1, dtype=torch.long)
        self.window = torch.zeros(n, n_features, len(offsets))

    def add(self, acts: Float[Tensor, "batch pos feature"], skip: int, first_row: int) -> None:
        batch, n_pos, n_features = acts.shape
        kept = acts[:, skip:].reshape(-1, n_features)
        top_values, top_index = _earliest_top(kept, self.n)
        row, pos = top_index // (n_pos - skip), top_index % (n_pos - skip) + skip
        window_pos = pos[..., None] + self.offsets
        inside = (window_pos >= 0) & (window_pos < n_pos)
        feature = torch.arange(n_features)[None, :, None]
        window = acts[row[..., None], window_pos.clamp(0, n_pos - 1), feature] * inside
        # Running examples come from earlier tokens, so a stable sort keeps ties in token order.
        values = torch.cat([self.values, top_values])
        best = values.sort(dim=0, descending=True, stable=True).indices[: self.n]
        self.values = values.gather(0, best)
        self.rows = torch.cat([self.rows, row + first_row]).gather(0, best)
        self.pos = torch.cat([self.pos, pos]).gather(0, best)
        self.window = torch.cat([self.window, window]).gather(0, best[..., None].expand(-1, -1, len(self.offsets)))


def _check(model, sae: SparseDictionary, config: SAEConfig, tokens: Tensor, n_examples: int, context, bins: int) -> Tensor:
    tokens = check_tokens(tokens, model)
    site = config.input_site.check(model)
    width = vector_width(site, model.cfg)
    if sae.d_in != width:
        raise ConfigError(
            f"the dictionary reads vectors of width {sae.d_in}, but {site} has width {width}; is it for another model?"
        )
    if sae.n_features != config.n_features or sae.kind != config.kind:
        raise ConfigError(
            f"the dictionary ({sae.kind}, {sae.n_features} features) does not match its config ({config.kind}, {config.n_features})"
        )
    if tokens.shape[1] <= config.skip_positions:
        raise DataError(
            f"rows of {tokens.shape[1]} tokens leave nothing after skip_positions={config.skip_positions}; pass longer rows"
        )
    ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
    if not (ok(n_examples) and n_examples > 0 and ok(bins) and bins > 0):
        raise ConfigError(f"n_examples and histogram_bins must be positive integers, got {n_examples!r} and {bins!r}")
    if not (isinstance(context, tuple | list) and len(context) == 2 and all(ok(c) for c in context)):
        raise ConfigError(f"context must be (tokens before, tokens after), two integers >= 0, got {context!r}")
    return tokens


@torch.no_grad()
@torch.no_grad()
def feature_activations(
    model, sae: SparseDictionary, config: SAEConfig, tokens: Int[Tensor, "batch pos"], *, batch_size: int = 32
) -> Float[Tensor, "batch pos features"]:
    """Every feature of `sae` at every position of `tokens` (the model's activations at the config's input site);
    the first `config.skip_positions` positions are zero."""
    site = config.input_site.check(model)
    parts = []
    for chunk in tokens.split(batch_size):
        vectors = to_vectors(site, cache_activations(model, chunk, [site])[site])
        parts.append(sae.encode(vectors.to(sae.W_enc)))
    acts = torch.cat(parts)
    acts[:, : config.skip_positions] = 0  # positions the dictionary was not trained on read as silent
    return acts


def feature_summaries(
    model,
    sae: SparseDictionary,
    config: SAEConfig,
    tokens: Int[Tensor, "batch pos"],
    tokenizer,
    *,
    n_examples: int = 8,
    context: tuple[int, int] = (8, 3),
    batch_size: int = 32,
    histogram_bins: int = 30,
    n_logits: int = 8,
) -> FeatureSummaries:
    """Statistics, top contexts and logit effects of every feature of `sae` over the rows `tokens`."""
    tokens = _check(model, sae, config, tokens, n_examples, context, histogram_bins)
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    skip, n_features = config.skip_positions, sae.n_features
    offsets = torch.arange(-context[0], context[1] + 1)
    examples = _TopExamples(n_examples, n_features, offsets)
    active = torch.zeros(n_features, dtype=torch.long)
    total = torch.zeros(n_features, dtype=torch.float64)
    fine = torch.zeros(n_features * FINE_BINS, dtype=torch.long)
    sae = sae.cpu()
    for start in range(0, tokens.shape[0], batch_size):
        chunk = tokens[start : start + batch_size]
        acts = feature_activations(model, sae, config, chunk, batch_size=len(chunk))
        examples.add(acts, skip, start)
        kept = acts[:, skip:].reshape(-1, n_features)
        on = kept > 0
        active += on.sum(0)
        total += kept.sum(0, dtype=torch.float64)
        token_index, feature = on.nonzero(as_tuple=True)
        fine += torch.bincount(feature * FINE_BINS + _fine_bins(kept[token_index, feature]), minlength=fine.numel())

    n_tokens = tokens.shape[0] * (tokens.shape[1] - skip)
    shown = examples.values > 0
    values = examples.values.where(shown, 0.0).T.contiguous()
    rows, pos = examples.rows.where(shown, -1).T.contiguous(), examples.pos.where(shown, -1).T.contiguous()
    window_pos = pos[..., None] + offsets
    inside = (window_pos >= 0) & (window_pos < tokens.shape[1]) & (rows[..., None] >= 0)
    context_tokens = tokens[rows.clamp_min(0)[..., None], window_pos.clamp(0, tokens.shape[1] - 1)].where(inside, -1)
    counts, edges = _coarse_histogram(fine.reshape(n_features, FINE_BINS), histogram_bins)

    logits, note = (None,) * 4, ""
    try:
        logits = logit_effects(model, sae, config, n_logits=n_logits)
    except ConfigError as error:
        note = str(error)
    ids = set(context_tokens[context_tokens >= 0].unique().tolist())
    for part in (logits[0], logits[2]):
        if part is not None:
            ids |= set(part.unique().tolist())
    ordered = sorted(ids)
    token_text = dict(zip(ordered, tokenizer.token_strings(ordered), strict=True)) if ordered else {}
    return FeatureSummaries(
        site=config.site,
        kind=config.kind,
        target_site=str(config.target_site),
        n_tokens=n_tokens,
        context=(int(context[0]), int(context[1])),
        density=(active.double() / n_tokens).float(),
        mean_active=(total / active.clamp_min(1)).float(),
        max_activation=values[:, 0].clone(),
        histogram_counts=counts,
        histogram_edges=edges,
        top_values=values,
        top_rows=rows,
        top_pos=pos,
        context_tokens=context_tokens,
        context_acts=examples.window.transpose(0, 1) * inside,
        token_text=token_text,
        top_logit_ids=logits[0],
        top_logit_values=logits[1],
        bottom_logit_ids=logits[2],
        bottom_logit_values=logits[3],
        logit_note=note,
    )


__all__ = ["FeatureSummaries", "feature_activations", "feature_summaries", "logit_effects", "residual_directions"]
